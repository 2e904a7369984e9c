"""Write docs/validation.md: every physics model against its published reference points.

Each section runs one of kiban's physics models (through the library's public functions) on the
inputs of a published measurement or worked example, and tabulates the published value, its
source, kiban's value, the error, the tolerance the physics test enforces, and pass/fail. The
last section lists the catalog constants whose ``source`` says they are recalled ([R]), weak or
assumed, so users see which numbers are least trusted.

Nothing here is a stored result: the Zeus fit (γ, s, k and the RMSEs) is recomputed from the
public traces, the MLPerf table from the public CSV (both found with
``kiban.shared_data.data_path``), everything else from the library. The checks themselves live
in :mod:`kiban.validation`, one module per model, and ``tests/physics/`` assert on the same
checks: this script only renders them (and lists the weak catalog constants).

Run (writes the file atomically, prints a one-line summary per model):

    .venv/bin/python scripts/validation_report.py            # -> docs/validation.md
    .venv/bin/python scripts/validation_report.py --check    # exit 1 if the doc is stale
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from kiban.repro import reexec_pinned
from kiban.validation import SECTIONS
from kiban.validation.checks import Row, Section

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DEFAULT = REPO_ROOT / "docs" / "validation.md"
REGENERATE_CMD = ".venv/bin/python scripts/validation_report.py"
VOLATILE_PREFIX = "Generated on "
"""Header lines starting with this (date and commit) are ignored by the freshness check."""

# ============================================================================================
# The report: weak catalog constants, then rendering
# ============================================================================================


@dataclass(frozen=True, slots=True)
class WeakConstant:
    """A catalog statement whose source says it is recalled, weak or assumed."""

    file: str
    statement: str
    rows: tuple[str, ...]
    markers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the markdown is rendered from."""

    sections: tuple[Section, ...]
    weak: tuple[WeakConstant, ...] = field(default_factory=tuple)

    @property
    def rows(self) -> tuple[Row, ...]:
        """All rows of all sections."""
        return tuple(r for s in self.sections for r in s.rows)


WEAK_PATTERNS: dict[str, re.Pattern[str]] = {
    "[R]": re.compile(r"\[R[\],]"),
    "weak": re.compile(r"\bweak\b", re.IGNORECASE),
    "assumed": re.compile(r"\bassumed\b", re.IGNORECASE),
}


def _row_key(row: dict[str, str], columns: Sequence[str]) -> str:
    if row.get("name"):
        return row["name"]
    return " ".join(row[c] for c in columns[:2])


def _compress(keys: Sequence[str]) -> str:
    """'tokyo 1', …, 'tokyo 12' -> 'tokyo 1–12'; other keys as a comma list."""
    groups: dict[str, list[int]] = {}
    plain: list[str] = []
    for k in keys:
        m = re.fullmatch(r"(.*\S)\s+(\d+)", k)
        if m:
            groups.setdefault(m[1], []).append(int(m[2]))
        else:
            plain.append(k)
    parts = list(plain)
    for prefix, unsorted in groups.items():
        nums = sorted(unsorted)
        contiguous = nums == list(range(nums[0], nums[-1] + 1))
        if contiguous and len(nums) > 1:
            parts.append(f"{prefix} {nums[0]}–{nums[-1]}")
        else:
            parts.append(f"{prefix} " + ", ".join(map(str, nums)))
    return ", ".join(parts)


def split_statements(source: str) -> list[str]:
    """Split a source cell at the semicolons that are outside parentheses and brackets."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(source):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        elif ch == ";" and depth == 0:
            parts.append(source[start:i])
            start = i + 1
    parts.append(source[start:])
    return [p.strip() for p in parts if p.strip()]


def weak_constants() -> tuple[WeakConstant, ...]:
    """Every ';'-separated statement of a catalog ``source`` column that is [R], weak or assumed.

    Reads every CSV under the installed ``kiban/data`` (the hardware catalog and the climate
    normals); statements shared by several rows are listed once with their rows.
    """
    data_dir = resources.files("kiban").joinpath("data")
    files: list[tuple[str, str]] = []
    for entry in sorted(data_dir.iterdir(), key=lambda p: p.name):
        if entry.is_file() and entry.name.endswith(".csv"):
            files.append((entry.name, entry.read_text(encoding="utf-8")))
        elif entry.is_dir():
            for sub in sorted(entry.iterdir(), key=lambda p: p.name):
                if sub.is_file() and sub.name.endswith(".csv"):
                    files.append((f"{entry.name}/{sub.name}", sub.read_text(encoding="utf-8")))
    out: list[WeakConstant] = []
    for name, text in files:
        reader = csv.DictReader(io.StringIO(text))
        columns = reader.fieldnames or []
        if "source" not in columns:
            continue
        by_statement: dict[str, list[str]] = {}
        for row in reader:
            for clause in split_statements(row["source"]):
                if clause and any(p.search(clause) for p in WEAK_PATTERNS.values()):
                    by_statement.setdefault(clause, []).append(_row_key(row, columns))
        for clause, keys in by_statement.items():
            markers = tuple(m for m, p in WEAK_PATTERNS.items() if p.search(clause))
            out.append(WeakConstant(f"kiban/data/{name}", clause, tuple(keys), markers))
    return tuple(out)


# ============================================================================================
# Rendering
# ============================================================================================


def build_report() -> Report:
    """Run every model against its references (needs the public Zeus and MLPerf data)."""
    return Report(tuple(section() for section in SECTIONS), weak_constants())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                "src/kiban/physics",
                "src/kiban/validation",
                "src/kiban/data",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit (not a git checkout)"
    return f"commit {head}" + (
        " (with uncommitted changes under src/kiban/physics, validation or data)" if dirty else ""
    )


def _anchor(title: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")
    return slug


def _counts(rows: Sequence[Row]) -> tuple[int, int, int]:
    """(pass, fail, reported-only) counts."""
    return (
        sum(r.passed is True for r in rows),
        sum(r.passed is False for r in rows),
        sum(r.passed is None for r in rows),
    )


def render(report: Report, *, generated: str) -> str:
    """The markdown text of docs/validation.md."""
    out: list[str] = [
        "# Validation: kiban's physics against published data",
        "",
        f"Regenerate with `{REGENERATE_CMD}` (check with `--check`). Do not edit by hand.",
        f"{VOLATILE_PREFIX}{generated}.",
        "",
        "Every row runs the library on the inputs of a published measurement or worked example "
        "and compares kiban's value with the published one at the tolerance that the physics "
        "test in the tolerance column enforces (a few rows extend a test's check to more "
        "cases and say so). Rows marked *reported* are shown for information and held to no "
        "tolerance. The Zeus and MLPerf rows are recomputed from the public data sets "
        "(`../shared/data`, found through `kiban.shared_data`), not read from stored results. "
        "`tests/test_validation_doc.py` regenerates this file and fails if any row fails or if "
        "the numbers here are stale.",
        "",
        "## Summary",
        "",
        "| model | rows | pass | fail | reported only |",
        "|---|---:|---:|---:|---:|",
    ]
    for i, s in enumerate(report.sections, 1):
        n_pass, n_fail, n_rep = _counts(s.rows)
        title = f"{i}. {s.title}"
        out.append(
            f"| [{_cell(s.title)}](#{_anchor(title)}) | {len(s.rows)} | {n_pass} | "
            f"{n_fail if n_fail == 0 else f'**{n_fail}**'} | {n_rep} |"
        )
    n_pass, n_fail, n_rep = _counts(report.rows)
    out.append(f"| **all** | {len(report.rows)} | {n_pass} | {n_fail} | {n_rep} |")
    out.append("")
    for i, s in enumerate(report.sections, 1):
        out += [f"## {i}. {s.title}", "", s.intro, ""]
        for t in s.tables:
            out += [
                f"**{t.caption}**",
                "",
                "| quantity | published | source | kiban | error | tolerance (test) | result |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in t.rows:
                cells = (
                    r.quantity,
                    r.published,
                    r.source,
                    r.kiban,
                    r.error,
                    r.tolerance,
                    r.result,
                )
                out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
            out.append("")
        out += [*s.notes, ""] if s.notes else []
    i = len(report.sections) + 1
    out += [
        f"## {i}. Least-trusted constants (catalog statements marked [R], weak or assumed)",
        "",
        "Every `;`-separated statement of a `source` cell in `src/kiban/data/**/*.csv` that says "
        "it is recalled (`[R]`), weak or ASSUMED. These numbers have no published check above; "
        "treat results that depend on them as estimates, and override them with a user catalog "
        "when you have measurements.",
        "",
        "| file | rows | statement | marker |",
        "|---|---|---|---|",
    ]
    for w in report.weak:
        out.append(
            f"| `{w.file}` | {_cell(_compress(w.rows))} | {_cell(w.statement)} | "
            f"{', '.join(w.markers)} |"
        )
    out.append("")
    return "\n".join(out)


def strip_volatile(text: str) -> str:
    """The text without its date/commit header lines (what the freshness check compares)."""
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith(VOLATILE_PREFIX))


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Build the report and write it (or, with --check, compare it with the file).

    Returns:
        0 when written (or up to date) and every row passes; 1 when a row fails or, with
        --check, the file is stale.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DEFAULT, help="markdown file to write")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if --out is stale"
    )
    args = parser.parse_args(argv)
    report = build_report()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = render(report, generated=f"{stamp} from {_git_commit()}")
    for i, s in enumerate(report.sections, 1):
        n_pass, n_fail, n_rep = _counts(s.rows)
        print(f"{i:2d}. {s.title}: {n_pass} pass, {n_fail} fail, {n_rep} reported")
    print(f"weak catalog statements listed: {len(report.weak)}")
    failed = [r.quantity for r in report.rows if r.passed is False]
    for q in failed:
        print(f"FAIL: {q}", file=sys.stderr)
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if strip_volatile(current) != strip_volatile(text):
            print(f"{args.out} is stale; regenerate with {REGENERATE_CMD}", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
    else:
        write_atomic(args.out, text)
        print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    reexec_pinned()  # the same numbers on Intel and AMD (kiban.repro)
    sys.exit(main())
