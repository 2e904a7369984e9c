"""Locate the public data sets (``../shared/data`` beside a checkout, or ``$KIBAN_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path

from kiban.errors import DataNotFoundError

_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_data_root() -> Path:
    """Where the public data sets should be: ``$KIBAN_DATA``, else ``../shared/data``.

    Unlike :func:`data_root`, this does not check that the folder exists.
    """
    env = os.environ.get("KIBAN_DATA")
    return Path(env) if env else _REPO_ROOT.parent / "shared" / "data"


def data_root() -> Path:
    """Return the folder holding the public data sets.

    ``$KIBAN_DATA`` wins; otherwise ``../shared/data`` next to the repository root.

    Raises:
        DataNotFoundError: when neither exists; the message says where to get the data.
    """
    env = os.environ.get("KIBAN_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(_REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    tried = ", ".join(str(p) for p in candidates)
    msg = (
        f"public data folder not found (tried {tried}); set KIBAN_DATA to the folder that holds "
        "philly/, zeus-power-traces/, mlperf-power/ ... (see README 'Data')"
    )
    raise DataNotFoundError(msg)


def data_path(*parts: str) -> Path:
    """Return a path inside the data root, raising DataNotFoundError if it is missing."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        msg = f"data file not found: {path}; see the LOADER.md of that data set for where to get it"
        raise DataNotFoundError(msg)
    return path
