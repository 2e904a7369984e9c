"""`kiban validate` stays light (issue 16: validate of an example under 1 s; see bench_startup).

What can fail deterministically is checked here: which heavy modules a validate run imports, and
that a trace is read again whenever it changed. Times are measured by the benchmark only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import EXAMPLES

from kiban.cli._trace_memo import SETTLED_S, trace_key

HEAVY = ("scipy", "polars", "pyarrow", "pandas", "matplotlib", "jinja2")
"""Modules validate needs only to read a trace (polars) or never (the rest)."""

_CODE = (
    "import sys\nfrom kiban.cli import main\nsys.argv = ['kiban', *sys.argv[1:]]\ncode = 0\n"
    "try:\n    main()\nexcept SystemExit as err:\n    code = err.code\n"
    "print('MODULES', ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    "sys.exit(code)\n"
)


def _validate(cache: Path, *files: Path) -> tuple[int, str, set[str]]:
    """(exit status, stderr, top-level modules loaded) of `kiban validate FILES`, a new process."""
    env = dict(os.environ, KIBAN_CACHE_DIR=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", _CODE, "validate", *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES "))
    return proc.returncode, proc.stderr, set(line.split()[1:])


def _has_trace(path: Path) -> bool:
    return any(line.startswith("trace =") for line in path.read_text().splitlines())


def test_validate_of_the_examples_without_a_trace_loads_no_heavy_module(tmp_path):
    """Old behaviour: every validate imported scipy (the policy modules), polars and pyarrow."""
    files = [p for p in sorted(EXAMPLES.glob("*.toml")) if not _has_trace(p)]
    assert len(files) >= 3
    code, err, loaded = _validate(tmp_path, *files)
    assert code == 0, err
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


GOOD = "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,1,66.0,11cb48\n"
BAD = GOOD.replace("2017-10-09 07:01:55", '"2017-10-09 07:01:5')
"""Same size as GOOD, with an unbalanced quote on line 2."""


def _settle(path: Path) -> None:
    """Wait until the file's last change is old enough to be remembered."""
    st = path.stat()
    age_s = time.time() - max(st.st_mtime_ns, st.st_ctime_ns) / 1e9
    time.sleep(max(0.0, SETTLED_S - age_s) + 0.05)


def test_a_trace_that_read_cleanly_is_not_read_again_until_it_changes(tmp_path):
    """Old behaviour: every validate read (and paid polars for) the whole trace."""
    trace = tmp_path / "jobs.csv"
    trace.write_text(GOOD)
    text = (EXAMPLES / "tokyo-air-dgx-h100.toml").read_text()
    text = text.replace("[workload.synthetic]\ndays = 7.0\nseed = 1\n", "")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        text.replace("[policies]", f'[workload]\ntrace = "philly:{trace}"\n\n[policies]')
    )
    cache = tmp_path / "cache"
    _settle(trace)
    code, err, loaded = _validate(cache, scenario)
    assert code == 0, err
    # Read once (in a process forked to read it while the scenario loads): recorded clean.
    assert len(list((cache / "checked-traces").iterdir())) == 1
    code, err, loaded = _validate(cache, scenario)
    assert code == 0, err
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))  # remembered
    # Same size, modification time set back: the status-change time still gives it away.
    st = trace.stat()
    trace.write_text(BAD)
    os.utime(trace, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert trace.stat().st_size == st.st_size
    _settle(trace)
    code, err, loaded = _validate(cache, scenario)
    assert code == 2
    assert "jobs.csv:2: unbalanced double quote" in err
    code, err, _ = _validate(cache, scenario)  # problems are never remembered
    assert code == 2
    assert "jobs.csv:2: unbalanced double quote" in err


def test_a_file_that_just_changed_is_not_remembered(tmp_path):
    trace = tmp_path / "jobs.csv"
    trace.write_text(GOOD)
    assert trace_key("philly", trace, skip_bad=False) is None
    _settle(trace)
    key = trace_key("philly", trace, skip_bad=False)
    assert key is not None
    assert trace_key("philly", trace, skip_bad=True) not in {None, key}
    assert trace_key("philly", tmp_path, skip_bad=False) is None  # a folder: read every time
