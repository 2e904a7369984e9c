"""Digests of every output of whole example replays, to compare two trees' outputs byte for byte.

Runs each example (default: the Philly replay and the 512-GPU hall) under ``fifo-static`` to the
end and prints one JSON object: per example, the digests of ``scripts/golden_digests.py``
(summary, ledger, raw run arrays and every saved file, parquet by content). Run it once with each
tree's ``src`` first on the path and compare the two outputs::

    PYTHONPATH=../old/src .venv/bin/python bench/digest_outputs.py > /tmp/old.json
    .venv/bin/python bench/digest_outputs.py > /tmp/new.json
    diff /tmp/old.json /tmp/new.json      # only the "kiban" line (the module's path) differs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("examples", nargs="*", default=["philly.toml", "hall-512-h100-rdhx.toml"])
    parser.add_argument("--policy", default="fifo-static")
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("golden", REPO / "scripts" / "golden_digests.py")
    assert spec is not None
    assert spec.loader is not None
    golden = importlib.util.module_from_spec(spec)
    sys.modules["golden"] = golden
    spec.loader.exec_module(golden)
    import kiban  # noqa: PLC0415
    from kiban.results import prepare_scenario  # noqa: PLC0415
    from kiban.spec import load_spec  # noqa: PLC0415

    found: dict[str, object] = {"kiban": kiban.__file__}
    for name in args.examples:
        prepared = prepare_scenario(load_spec(REPO / "examples" / name))
        out, result = golden.run_case(prepared, args.policy)
        found[name] = golden.result_digests(out, result)
    print(json.dumps(found, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
