"""CPU time and output digest of 1-day coopt-layers runs with the elastic layer (Sia's rounds).

Runs each case once in this process and prints one JSON line per case: the CPU time of the run
(``time.process_time``) and a digest of the outputs (every parquet table as CSV and
``summary.json`` without its speed fields), so two trees can be compared run for run.
Interleave the trees yourself::

    for tree in new old old new; do
        PYTHONPATH=$( [ $tree = old ] && echo ../old/src ) KIBAN_DATA=../shared/data \\
            .venv/bin/python bench/bench_elastic.py --tag $tree
    done

The cases (scenario, seed, switches on) default to the three of docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("order", "elastic", "thermal", "power", "data", "cooling")
CASES = (
    "power-tight:1:elastic,thermal,power,data,cooling",
    "hot-season:2:elastic",
    "io-heavy:3:elastic,power,data",
)
SPEED_FIELDS = ("wall_time_s", "events_per_s", "jobs_per_s")


def digest(folder: Path) -> str:
    """Digest of a saved result: parquet by content, summary without its speed fields."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.suffix == ".parquet":
            h.update(p.name.encode())
            h.update(pl.read_parquet(p).write_csv().encode())
        elif p.name == "summary.json":
            d = json.loads(p.read_text(encoding="utf-8"))
            for key in SPEED_FIELDS:
                d.pop(key, None)
            h.update(json.dumps(d, sort_keys=True).encode())
    return h.hexdigest()[:16]


def main() -> None:
    """Run the cases and print one JSON line each."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    ap.add_argument("cases", nargs="*", default=list(CASES), help="SCENARIO:SEED:LAYER,LAYER…")
    ap.add_argument("--tag", default="", help="a label printed with each line (e.g. old/new)")
    ap.add_argument("--until-s", type=float, default=86_400.0)
    args = ap.parse_args()
    import kiban  # noqa: PLC0415
    from kiban.results import prepare_scenario, run_prepared  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    for case in args.cases:
        scen, seed, on = case.split(":")
        params: dict[str, object] = {x: x in on.split(",") for x in LAYERS}
        if scen == "power-tight":
            params["site_budget_kw"] = 45.0  # as examples/sweeps/ablation-power-tight.toml
        path = REPO / "examples" / "sweeps" / "coopt" / f"{scen}.toml"
        prepared = prepare_scenario(
            load_spec(path),
            scenario_toml=path.read_text(encoding="utf-8"),
            seed=int(seed),
            until_s=args.until_s,
            locality="node",
        )
        t0 = time.process_time()
        result = run_prepared(prepared, "coopt-layers", params)
        cpu_s = time.process_time() - t0
        with tempfile.TemporaryDirectory() as tmp:
            out = digest(result.save(Path(tmp) / "run"))
        print(
            json.dumps(
                {
                    "tag": args.tag,
                    "case": case,
                    "cpu_s": round(cpu_s, 2),
                    "digest": out,
                    "kiban": kiban.__file__,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
