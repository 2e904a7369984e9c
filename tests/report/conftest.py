"""Fixtures for the report tests: small deterministic result directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import write_run


@pytest.fixture(scope="session")
def result_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DIR holding DIR/fifo/ and DIR/backfill/."""
    return write_run(tmp_path_factory.mktemp("results"))
