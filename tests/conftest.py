"""Shared test setup: a GNU Go locator, the rule for a missing engine, one torch thread.

A test that needs an engine (GNU Go, Pachi, Chromium) which is not installed fails, so CI
cannot stay green without it; ``GOZERO_ALLOW_MISSING_ENGINES=1`` turns those failures into
skips (a laptop without Pachi, say).
"""

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

ALLOW_MISSING_ENGINES = "GOZERO_ALLOW_MISSING_ENGINES"


def engine_missing(message: str) -> NoReturn:
    """Fail the test for a missing engine, or skip it when GOZERO_ALLOW_MISSING_ENGINES=1."""
    if os.environ.get(ALLOW_MISSING_ENGINES, "").strip() not in ("", "0"):
        pytest.skip(message)
    pytest.fail(f"{message}; set {ALLOW_MISSING_ENGINES}=1 to skip the tests that need it", pytrace=False)


@pytest.fixture(scope="session")
def missing_engine():
    """`engine_missing` for fixtures and tests in any folder (no conftest imports needed)."""
    return engine_missing


def gnugo_path() -> str | None:
    for cand in (shutil.which("gnugo"), "/usr/games/gnugo"):
        if cand and Path(cand).exists():
            return cand
    return None


@pytest.fixture(scope="session")
def gnugo() -> str:
    path = gnugo_path()
    if path is None:
        engine_missing("GNU Go is not installed (apt-get install gnugo)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread: on a busy small machine, torch's spinning worker threads slow the
    small networks of the tests down by orders of magnitude."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
