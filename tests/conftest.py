"""Shared test setup: the source tree on the path and a GNU Go locator."""

import shutil
from pathlib import Path

import pytest


def gnugo_path() -> str | None:
    for cand in (shutil.which("gnugo"), "/usr/games/gnugo"):
        if cand and Path(cand).exists():
            return cand
    return None


@pytest.fixture(scope="session")
def gnugo() -> str:
    path = gnugo_path()
    if path is None:
        pytest.skip("GNU Go is not installed (apt-get install gnugo)")
    return path
