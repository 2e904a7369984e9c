"""Print the coupled twin's trade-offs (a)–(d) of docs/validation.md as tables.

Usage::

    .venv/bin/python scripts/tradeoffs.py            # all four
    .venv/bin/python scripts/tradeoffs.py a c        # some of them

The same runs feed ``scripts/validation_report.py`` (section "Coupled trade-offs") and the
direction tests ``tests/sim/test_tradeoff_directions.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from kiban.validation import tradeoffs as tr

RUNS = {
    "a": tr.clock_tradeoff,
    "b": tr.density_tradeoff,
    "c": tr.supply_tradeoff,
    "d": tr.spacing_tradeoff,
}


def main() -> int:
    """Run the chosen trade-offs and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("which", nargs="*", help="a, b, c, d (default: all)")
    args = parser.parse_args()
    which = args.which or list(RUNS)
    bad = [w for w in which if w not in RUNS]
    if bad:
        parser.error(f"unknown trade-off {bad[0]!r}; allowed: {', '.join(RUNS)}")
    for key in which:
        t0 = time.perf_counter()
        result = RUNS[key]()
        print(f"({key}) {type(result).__name__}  [{time.perf_counter() - t0:.1f} s]")
        for field in dataclasses.fields(result):
            value = getattr(result, field.name)
            if isinstance(value, tuple):
                cells = "  ".join(
                    f"{v:10.4g}" if isinstance(v, float) else f"{v:>10}" for v in value
                )
            else:
                cells = f"{value:.4g}" if isinstance(value, float) else str(value)
            print(f"  {field.name:>26}: {cells}")
        if isinstance(result, tr.SpacingTradeoff):
            print(f"  {'total_kwh':>26}: " + "  ".join(f"{v:10.4g}" for v in result.total_kwh))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
