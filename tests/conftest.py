"""Shared fixtures: seeded rng, the public data root, and the debug-checks switch."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest

# Rich wraps CLI output at 80 columns when stdout is not a terminal; long tmp paths then break
# the lines that tests search. Set before any kiban.cli import creates its Console.
os.environ.setdefault("COLUMNS", "200")
# kiban's cache folder (traces validate read cleanly): one per test run, not ~/.cache/kiban.
os.environ.setdefault("KIBAN_CACHE_DIR", tempfile.mkdtemp(prefix="kiban-test-cache-"))

from kiban.options import options

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _debug_checks():
    """Turn on the expensive invariant checks for every test."""
    old = options.debug_checks
    options.debug_checks = True
    yield
    options.debug_checks = old


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def _data_root() -> Path | None:
    env = os.environ.get("KIBAN_DATA")
    for cand in ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The public data folder. Missing: skip locally, fail in CI (CI=true)."""
    root = _data_root()
    if root is None:
        if IN_CI:
            pytest.fail("../shared/data is missing; CI must have the public data beside the clone")
        pytest.skip("public data sets not found (set KIBAN_DATA)")
    return root


def require_data(root: Path, *parts: str) -> Path:
    """Return root/parts; skip locally (fail in CI) if that data set is missing."""
    path = root.joinpath(*parts)
    if not path.exists():
        if IN_CI:
            pytest.fail(f"required data set missing in CI: {path}")
        pytest.skip(f"data set missing: {path}")
    return path


def load_script(file_name: str, module_name: str) -> types.ModuleType:
    """Import ``scripts/<file_name>`` as ``module_name`` (once per session)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, REPO_ROOT / "scripts" / file_name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
