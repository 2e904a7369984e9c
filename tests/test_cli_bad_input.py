"""A new user's mistakes, on every finished command: one clear error, exit 2, nothing left behind.

The standard: bad input (a malformed trace, an inconsistent site spec, a missing field, a wrong
unit) gets one clear error that names the file, the field and the value and says what is
allowed. Users never see a traceback for their own mistakes, and no half-written output files are
left behind.

Each case runs kiban's real entry point (``kiban.cli.main``, which turns ``KibanError`` into
``error: ...`` lines) in-process on files made in a fresh folder, and checks: exit status 2 (typer's
own usage errors exit 2 as well), no "Traceback", the expected fragments (file, field, value,
what is allowed) in the output, and that the folder holds exactly what it held before. A few
cases go through the installed ``kiban`` script in a subprocess. Fixture files that are plain
text live in ``tests/bad_input/``; empty, binary and non-UTF-8 files are made on the fly.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import kiban.cli
import kiban.workload.readers.kiban_parquet as kp
from kiban.cli import app, main
from kiban.errors import ConfigError, TraceError
from kiban.plan import output
from kiban.plan.run import load_site, plan_site
from kiban.workload import read_trace

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "tokyo-air-dgx-h100.toml"
BAD = Path(__file__).parent / "bad_input"
PHILLY_JSON = REPO / "tests" / "workload" / "fixtures" / "philly_cluster_job_log.json"
PHILLY_CSV = REPO / "tests" / "workload" / "fixtures" / "philly_jobs.csv"

# --- the files a new user gets wrong ----------------------------------------------------------

_EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")

# name → (text in the example, replacement): one mistake each in an otherwise valid spec.
SPEC_EDITS: dict[str, tuple[str, str]] = {
    "fahrenheit.toml": ("supply_temp_c = 18.0 ", "supply_temp_c = 64.4 "),
    "watts_key.toml": ("grid_limit_kw = 250 ", "grid_limit_w = 250000 "),
    "count_text.toml": ("count = 8", 'count = "eight"'),
    "no_technology.toml": ('technology = "crac-raised-floor"', ""),
    "unknown_model.toml": ('model = "dgx-h100"', 'model = "dgx-h1000"'),
    "zero_fleet.toml": ("count = 8", "count = 0"),
    "hourly_short.toml": (
        'climate = "tokyo"',
        f'climate = {{ hourly_csv = "{(BAD / "hourly_two_hours.csv").as_posix()}" }}',
    ),
    "hourly_bad_row.toml": (
        'climate = "tokyo"',
        f'climate = {{ hourly_csv = "{(BAD / "hourly_bad_row.csv").as_posix()}" }}',
    ),
    "hourly_binary.toml": ('climate = "tokyo"', 'climate = { hourly_csv = "garbage.bin" }'),
}


def _make_inputs(folder: Path) -> None:
    """Write the broken inputs into ``folder`` (fresh for every case)."""
    (folder / "folder").mkdir()
    (folder / "empty.toml").write_bytes(b"")
    (folder / "garbage.bin").write_bytes(bytes(range(256)) * 2)
    (folder / "latin1.toml").write_bytes('name = "café"\n'.encode("latin-1"))
    (folder / "truncated.toml").write_text(_EXAMPLE_TEXT[:450], encoding="utf-8")
    (folder / "notes.txt").write_text("my notes, not a parquet file\n", encoding="utf-8")
    (folder / "jobs.csv").write_bytes(PHILLY_CSV.read_bytes())
    (folder / "a_file").write_text("", encoding="utf-8")
    (folder / "example.toml").write_text(_EXAMPLE_TEXT, encoding="utf-8")
    for name, (old, new) in SPEC_EDITS.items():
        assert old in _EXAMPLE_TEXT, f"{name}: {old!r} no longer in {EXAMPLE.name}"
        (folder / name).write_text(_EXAMPLE_TEXT.replace(old, new, 1), encoding="utf-8")


def _listing(folder: Path) -> dict[str, int]:
    """Every path under ``folder`` with its size (folders as -1): what a run may not change."""
    return {
        str(p.relative_to(folder)): (-1 if p.is_dir() else p.stat().st_size)
        for p in sorted(folder.rglob("*"))
    }


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str):
    """kiban's real entry point in-process; return (exit status, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["kiban", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return info.value.code, out.out + out.err


# --- the cases ----------------------------------------------------------------------------------
# (argv, fragments). In argv, {t} is the case's folder, {b} tests/bad_input, {x} the example.
# Every fragment must appear in the output: the file, the field, the value, what is allowed.

E = "{x}"
QUICK = ("--no-compare", "--no-sweep-spacing")

CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # validate: unreadable files
    "validate-missing": (("validate", "{t}/nope.toml"), ("nope.toml", "file not found")),
    "validate-folder": (("validate", "{t}/folder"), ("folder", "is a folder")),
    "validate-empty": (("validate", "{t}/empty.toml"), ("empty.toml", "empty file", "[site]")),
    "validate-binary": (("validate", "{t}/garbage.bin"), ("garbage.bin", "binary")),
    "validate-latin1": (("validate", "{t}/latin1.toml"), ("latin1.toml", "UTF-8", "0xe9")),
    "validate-truncated": (("validate", "{t}/truncated.toml"), ("truncated.toml", "invalid TOML")),
    # validate: one mistake in a valid spec
    "validate-fahrenheit": (
        ("validate", "{t}/fahrenheit.toml"),
        ("fahrenheit.toml", "cooling.supply_temp_c = 64.4", "5–40 °C", "°F"),
    ),
    "validate-watts-key": (
        ("validate", "{t}/watts_key.toml"),
        ("watts_key.toml", "site.grid_limit_w = 250000", "did you mean 'grid_limit_kw'"),
    ),
    "validate-wrong-type": (
        ("validate", "{t}/count_text.toml"),
        ("count_text.toml", 'fleet[0].count = "eight"', "whole number"),
    ),
    "validate-missing-field": (
        ("validate", "{t}/no_technology.toml"),
        ("no_technology.toml", "cooling.technology", "missing"),
    ),
    "validate-unknown-model": (
        ("validate", "{t}/unknown_model.toml"),
        ("unknown_model.toml", 'fleet[0].model = "dgx-h1000"', "did you mean 'dgx-h100'"),
    ),
    "validate-hourly-binary": (
        ("validate", "{t}/hourly_binary.toml"),
        ("hourly_binary.toml", "site.climate.hourly_csv", "garbage.bin"),
    ),
    "validate-no-files": (("validate",), ("Missing argument",)),
    "schema-extra-argument": (("schema", "extra"), ("extra",)),
    # catalog
    "catalog-kind-foo": (("catalog", "list", "--kind", "foo"), ("--kind", "foo", "gpu")),
    "catalog-show-unknown": (("catalog", "show", "h100"), ("'h100'", "did you mean 'h100-sxm'")),
    "catalog-file-missing": (
        ("catalog", "list", "--catalog", "{t}/nope.toml"),
        ("nope.toml", "not found"),
    ),
    "catalog-file-folder": (("catalog", "list", "--catalog", "{t}/folder"), ("is a folder",)),
    "catalog-file-binary": (
        ("catalog", "list", "--catalog", "{t}/garbage.bin"),
        ("garbage.bin", "UTF-8"),
    ),
    "catalog-file-is-scenario": (
        ("catalog", "show", "dgx-h100", "--catalog", E),
        (EXAMPLE.name, "scenario file, not a user catalog", "[gpu.NAME]"),
    ),
    "catalog-array-of-tables": (
        ("catalog", "list", "--catalog", "{b}/catalog_array_of_tables.toml"),
        ("catalog_array_of_tables.toml", "gpu = ", "[gpu.NAME]"),
    ),
    "catalog-unknown-table": (
        ("catalog", "list", "--catalog", "{b}/catalog_unknown_table.toml"),
        ("catalog_unknown_table.toml", "gpus = ", "did you mean 'gpu'", "allowed: gpu"),
    ),
    "catalog-kw-for-w": (
        ("catalog", "show", "h100-sxm", "--catalog", "{b}/catalog_kw_for_w.toml"),
        ("catalog_kw_for_w.toml", "gpu.h100-sxm.tdp_w = 0.7", "10–3000 W", "did you mean kW"),
    ),
    # trace: the FORMAT:PATH argument
    "trace-no-colon": (("trace", "stats", "{t}/jobs.csv"), ("expected FORMAT:PATH", "philly")),
    "trace-unknown-format": (
        ("trace", "stats", "foo:{t}/jobs.csv"),
        ("unknown format 'foo'", "philly", "slurm"),
    ),
    "trace-empty-path": (("trace", "stats", "philly:"), ("expected FORMAT:PATH",)),
    "trace-missing": (("trace", "stats", "philly:{t}/nope.csv"), ("nope.csv", "not found")),
    "trace-philly-folder": (
        ("trace", "stats", "philly:{t}/folder"),
        ("folder", "pollux_philly_jobs.csv"),
    ),
    "trace-slurm-folder": (("trace", "stats", "slurm:{t}/folder"), ("folder", "is a folder")),
    "trace-empty": (("trace", "stats", "philly:{t}/empty.toml"), ("empty.toml", "empty")),
    "trace-binary": (
        ("trace", "stats", "philly:{t}/garbage.bin"),
        ("garbage.bin", "not UTF-8", "0x80"),
    ),
    "trace-binary-json": (
        ("trace", "stats", "slurm:{t}/latin1.toml"),
        ("latin1.toml", "not UTF-8"),
    ),
    "trace-parquet-garbage": (
        ("trace", "stats", "kiban:{t}/garbage.bin"),
        ("garbage.bin", "cannot read parquet"),
    ),
    # trace: malformed rows name file:line, field and value
    "trace-bad-number": (
        ("trace", "stats", "philly:{b}/philly_bad_number.csv"),
        ("philly_bad_number.csv:4", "duration = 'abc'", "must be a number"),
    ),
    "trace-negative-gpus": (
        ("trace", "stats", "philly:{b}/philly_negative_gpus.csv"),
        ("philly_negative_gpus.csv:3", "num_gpus = '-2'", "≥ 1"),
    ),
    "trace-bad-date": (
        ("trace", "stats", "philly:{b}/philly_bad_date.csv"),
        ("philly_bad_date.csv:2", "timestamp = '2017-13-45 07:01:55'", "must be like"),
    ),
    "trace-ragged-row": (
        ("trace", "stats", "philly:{b}/philly_ragged.csv"),
        ("philly_ragged.csv:3", "'2 fields'", "must have 5 fields"),
    ),
    "trace-truncated-json": (
        ("trace", "stats", "philly:{b}/philly_truncated.json"),
        ("philly_truncated.json:", "malformed JSON"),
    ),
    "trace-slurm-missing-time": (
        ("trace", "stats", "slurm:{b}/slurm_missing_time.json"),
        ("slurm_missing_time.json:1", "time = None", "submission"),
    ),
    "trace-negative-seed": (
        ("trace", "stats", "philly:{t}/jobs.csv", "--seed", "-1"),
        ("--seed = -1", "≥ 0"),
    ),
    # trace convert: bad input or a bad output leaves nothing behind
    "convert-bad-rows": (
        ("trace", "convert", "philly:{b}/philly_bad_number.csv", "{t}/out.parquet"),
        ("philly_bad_number.csv:4", "duration"),
    ),
    "convert-out-folder": (
        ("trace", "convert", "philly:{t}/jobs.csv", "{t}/folder"),
        ("folder", "is a folder", "jobs.parquet"),
    ),
    "convert-out-missing-folder": (
        ("trace", "convert", "philly:{t}/jobs.csv", "{t}/nope/out.parquet"),
        ("nope/out.parquet", "does not exist"),
    ),
    "convert-out-is-input": (
        ("trace", "convert", "philly:{t}/jobs.csv", "{t}/jobs.csv"),
        ("jobs.csv", "is the trace being read"),
    ),
    "convert-out-not-parquet": (
        ("trace", "convert", "philly:{t}/jobs.csv", "{t}/notes.txt"),
        ("notes.txt", "not a parquet file", "will not overwrite"),
    ),
    "convert-missing-out": (("trace", "convert", "philly:{t}/jobs.csv"), ("Missing argument",)),
    # site evaluate
    "site-missing": (("site", "evaluate", "{t}/nope.toml"), ("nope.toml", "file not found")),
    "site-folder": (("site", "evaluate", "{t}/folder"), ("folder", "is a folder")),
    "site-binary": (("site", "evaluate", "{t}/garbage.bin"), ("garbage.bin", "binary")),
    "site-fahrenheit": (
        ("site", "evaluate", "{t}/fahrenheit.toml", "--json"),
        ("fahrenheit.toml", "cooling.supply_temp_c = 64.4", "°F"),
    ),
    "site-load-5": (("site", "evaluate", E, "--load", "5"), ("--load = 5", "between 0 and 1")),
    "site-load-nan": (("site", "evaluate", E, "--load", "nan"), ("--load = nan",)),
    "site-load-text": (("site", "evaluate", E, "--load", "abc"), ("--load", "number")),
    "site-report-folder": (
        ("site", "evaluate", E, "--report", "{t}/folder"),
        ("--report", "folder", "is a folder", "site.html"),
    ),
    "site-report-missing-folder": (
        ("site", "evaluate", E, "--report", "{t}/nope/site.html"),
        ("--report", "nope", "does not exist"),
    ),
    "site-report-overwrites-scenario": (
        ("site", "evaluate", "{t}/example.toml", "--report", "{t}/example.toml"),
        ("--report", "example.toml", "is the scenario file"),
    ),
    "site-report-not-html": (
        ("site", "evaluate", E, "--report", "{t}/notes.txt"),
        ("--report", "notes.txt", "not an HTML file", "will not overwrite"),
    ),
    "site-hourly-two-hours": (
        ("site", "evaluate", "{t}/hourly_short.toml"),
        (
            "hourly_short.toml",
            "site.climate.hourly_csv",
            "hourly_two_hours.csv",
            "2 hourly rows",
            "8,760",
        ),
    ),
    "site-hourly-bad-row": (
        ("site", "evaluate", "{t}/hourly_bad_row.toml"),
        ("hourly_bad_row.csv:3", "dry_bulb_c = 'warm'"),
    ),
    "site-zero-fleet": (
        ("site", "evaluate", "{t}/zero_fleet.toml"),
        ("zero_fleet.toml", "fleet[0].count = 0", "count ≥ 1"),
    ),
    # plan
    "plan-missing": (("plan", "{t}/nope.toml"), ("nope.toml", "file not found")),
    "plan-empty": (("plan", "{t}/empty.toml"), ("empty.toml", "empty file")),
    "plan-wrong-type": (
        ("plan", "{t}/count_text.toml"),
        ("count_text.toml", 'fleet[0].count = "eight"'),
    ),
    "plan-unknown-model": (
        ("plan", "{t}/unknown_model.toml"),
        ("unknown_model.toml", "dgx-h1000", "dgx-h100"),
    ),
    "plan-objective-foo": (("plan", E, "--objective", "foo"), ("--objective = 'foo'", "tco, pue")),
    "plan-years-negative": (("plan", E, "--years", "-1"), ("--years = -1", "at most 50")),
    "plan-years-zero": (("plan", E, "--years", "0"), ("--years = 0", "more than 0")),
    "plan-load-5": (("plan", E, "--load", "5"), ("--load = 5",)),
    "plan-inlet-fahrenheit": (("plan", E, "--inlet-max", "80.6"), ("--inlet-max = 80.6", "°C")),
    "plan-time-limit-zero": (("plan", E, "--time-limit", "0"), ("--time-limit = 0",)),
    "plan-out-is-file": (
        ("plan", E, *QUICK, "--out", "{t}/a_file"),
        ("--out", "a_file", "is a file", "folder"),
    ),
    "plan-out-under-file": (
        ("plan", E, *QUICK, "--out", "{t}/a_file/plan"),
        ("--out", "a_file", "is a file"),
    ),
    "plan-zero-fleet": (
        ("plan", "{t}/zero_fleet.toml", *QUICK),
        ("zero_fleet.toml", "fleet[0].count = 0", "at least one server"),
    ),
    "plan-hourly-binary": (
        ("plan", "{t}/hourly_binary.toml", *QUICK),
        ("hourly_binary.toml", "site.climate.hourly_csv", "garbage.bin"),
    ),
    "plan-hourly-two-hours": (
        ("plan", "{t}/hourly_short.toml", *QUICK),
        ("hourly_short.toml", "2 hourly rows", "8,760"),
    ),
    # commands and options that do not exist
    "unknown-command": (("simulat",), ("simulat",)),
    "unknown-option": (("validate", "--strict", E), ("--strict",)),
}


def _argv(args: tuple[str, ...], folder: Path) -> list[str]:
    return [
        a.replace("{t}", str(folder)).replace("{b}", str(BAD)).replace("{x}", str(EXAMPLE))
        for a in args
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clear_error_and_leaves_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args, fragments = CASES[case]
    _make_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)  # relative defaults (report files) would land here
    before = _listing(tmp_path)
    code, out = _run(monkeypatch, capsys, *_argv(args, tmp_path))
    assert code == 2, out
    assert "Traceback" not in out, out
    assert out.strip(), "no message at all"
    for fragment in fragments:
        frag = fragment.replace("{t}", str(tmp_path))
        assert frag in out, f"{frag!r} not in:\n{out}"
    assert _listing(tmp_path) == before, "the failed run changed, added or left files behind"


def test_user_errors_print_error_lines_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kiban error is `error: ...` lines and nothing else (no partial tables or notes first)."""
    _make_inputs(tmp_path)
    for args in (
        ("trace", "stats", f"philly:{BAD / 'philly_bad_number.csv'}"),
        ("site", "evaluate", str(tmp_path / "fahrenheit.toml")),
        ("catalog", "list", "--catalog", str(BAD / "catalog_kw_for_w.toml")),
        ("trace", "convert", f"philly:{tmp_path / 'jobs.csv'}", str(tmp_path / "notes.txt")),
    ):
        code, out = _run(monkeypatch, capsys, *args)
        lines = [line for line in out.splitlines() if line.strip()]
        assert code == 2
        assert lines, args
        assert all(line.startswith("error: ") for line in lines), out


BOM = b"\xef\xbb\xbf"


def test_excel_byte_order_mark_is_read_or_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel's 'CSV UTF-8' starts files with a BOM: traces and user catalogs read it; the hourly
    climate file (whose reader does not) gets an error that says so, at validate time."""
    for name, source in (("jobs.csv", PHILLY_CSV), ("jobs.json", PHILLY_JSON)):
        (tmp_path / name).write_bytes(BOM + source.read_bytes())
        code, out = _run(monkeypatch, capsys, "trace", "stats", f"philly:{tmp_path / name}")
        assert code in (0, None), out
    catalog = tmp_path / "catalog.toml"
    catalog.write_bytes(BOM + b"[gpu.h100-sxm]\ntdp_w = 650\n")
    code, out = _run(monkeypatch, capsys, "catalog", "show", "h100-sxm", "--catalog", str(catalog))
    assert code in (0, None), out
    assert "650" in out
    (tmp_path / "weather.csv").write_bytes(BOM + b"dry_bulb_c,wet_bulb_c\n20,15\n")
    spec = tmp_path / "site.toml"
    spec.write_text(
        _EXAMPLE_TEXT.replace('climate = "tokyo"', 'climate = { hourly_csv = "weather.csv" }'),
        encoding="utf-8",
    )
    for command in (("validate",), ("site", "evaluate"), ("plan",)):
        code, out = _run(monkeypatch, capsys, *command, str(spec))
        assert code == 2, out
        assert "site.climate.hourly_csv" in out
        assert "byte-order mark" in out


# --- outputs: atomic, no temp files, the user's permissions ------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_successful_outputs_have_no_temp_files_and_umask_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """trace convert and plan --out: only the named files appear, readable as the umask says."""
    old = os.umask(0o022)
    try:
        out = tmp_path / "jobs.parquet"
        code, text = _run(monkeypatch, capsys, "trace", "convert", f"philly:{PHILLY_CSV}", str(out))
        assert code in (0, None), text
        # Converting again overwrites kiban's own parquet (not a user file): allowed.
        code, text = _run(monkeypatch, capsys, "trace", "convert", f"philly:{PHILLY_CSV}", str(out))
        assert code in (0, None), text
        plan_dir = tmp_path / "new" / "plan"
        code, text = _run(monkeypatch, capsys, "plan", str(EXAMPLE), *QUICK, "--out", str(plan_dir))
        assert code in (0, None), text
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.parquet", "new"]
    assert _mode(out) == 0o644
    names = sorted(p.name for p in plan_dir.iterdir())
    assert names == ["binding_constraints.txt", "floorplan.svg", "layout.toml", "plan.json"]
    assert all(_mode(plan_dir / n) == 0o644 for n in names)


def test_plan_write_failure_midway_leaves_no_files_and_no_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills while the third plan file is written: no file, no temp, no new folder."""
    scenario, _ = load_site(EXAMPLE)
    result = plan_site(scenario, compare=False, sweep=False)
    real_open = os.open
    calls: list[int] = []

    def failing_open(path: object, flags: int, mode: int = 0o777) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(path))
        return real_open(path, flags, mode)  # type: ignore[arg-type]

    target = tmp_path / "fresh" / "plan"
    with monkeypatch.context() as patch:
        patch.setattr(output.os, "open", failing_open)
        with pytest.raises(ConfigError) as err:
            output.write_outputs(result, target)
    assert "No space left on device" in str(err.value)
    assert str(target) in str(err.value)
    assert list(tmp_path.iterdir()) == []  # the folders this call created are gone too
    # An existing folder keeps its earlier files untouched.
    target.mkdir(parents=True)
    (target / "layout.toml").write_text("# earlier plan\n", encoding="utf-8")
    calls.clear()
    with monkeypatch.context() as patch:
        patch.setattr(output.os, "open", failing_open)
        with pytest.raises(ConfigError):
            output.write_outputs(result, target)
    assert sorted(p.name for p in target.iterdir()) == ["layout.toml"]
    assert (target / "layout.toml").read_text(encoding="utf-8") == "# earlier plan\n"


def test_trace_convert_interrupted_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the parquet is written: neither the output nor its temp file remains."""
    result = read_trace(f"philly:{PHILLY_CSV}")

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    import pyarrow.parquet as pq  # noqa: PLC0415 (kiban_parquet imports it when writing)

    with monkeypatch.context() as patch:
        patch.setattr(pq, "write_table", interrupted)
        with pytest.raises(KeyboardInterrupt):
            kp.write_jobs_parquet(result.jobs, tmp_path / "jobs.parquet")
    assert list(tmp_path.iterdir()) == []

    # A folder that cannot take the temp file is one TraceError, not an OSError.
    def denied(path: object, *_args: object) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    with monkeypatch.context() as patch:
        patch.setattr(kp.os, "open", denied)
        with pytest.raises(TraceError, match=r"cannot write in .*Permission denied"):
            kp.write_jobs_parquet(result.jobs, tmp_path / "jobs.parquet")
    assert list(tmp_path.iterdir()) == []


# --- the installed script -----------------------------------------------------------------------


def test_installed_script_on_bad_input(tmp_path: Path) -> None:
    """Three mistakes through the real ``kiban`` script: exit 2, one line, no traceback."""
    _make_inputs(tmp_path)
    kiban = Path(sys.executable).with_name("kiban")
    cmd = (
        [str(kiban)]
        if kiban.exists()
        else [sys.executable, "-c", "from kiban.cli import main; main()"]
    )
    env = {**os.environ, "COLUMNS": "200"}
    before = _listing(tmp_path)
    for args, fragment in (
        (["trace", "stats", f"slurm:{tmp_path / 'folder'}"], "is a folder"),
        (["plan", str(EXAMPLE), "--out", str(tmp_path / "a_file")], "is a file"),
        (["site", "evaluate", str(tmp_path / "hourly_short.toml")], "2 hourly rows"),
    ):
        proc = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, timeout=120, env=env, check=False
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2, out
        assert "Traceback" not in out
        assert fragment in out
        assert proc.stderr.count("error: ") == 1, out
    assert _listing(tmp_path) == before


# --- help ---------------------------------------------------------------------------------------


def _root() -> Any:
    kiban.cli._load_commands()
    return typer.main.get_command(app)


def _commands() -> list[tuple[str, ...]]:
    """Every command path: () for kiban itself, ("catalog",), ("catalog", "list"), ..."""
    found: list[tuple[str, ...]] = [()]

    def walk(group: Any, prefix: tuple[str, ...]) -> None:
        for name, sub in getattr(group, "commands", {}).items():
            found.append((*prefix, name))
            walk(sub, (*prefix, name))

    walk(_root(), ())
    return found


def test_every_finished_command_is_found() -> None:
    names = {" ".join(c) for c in _commands()}
    for name in ("validate", "schema", "catalog list", "catalog show", "trace stats",
                 "trace convert", "trace formats", "site evaluate", "plan"):  # fmt: skip
        assert name in names


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "kiban")
def test_help_renders_with_a_description(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "Usage:" in result.output
    cmd = _root()
    for name in command:
        cmd = cmd.commands[name]
    description = (cmd.help or cmd.short_help or "").strip()
    assert description, f"kiban {' '.join(command)} has no help text"
    first_words = " ".join(description.split()[:4])
    assert first_words in " ".join(result.output.split()), result.output
