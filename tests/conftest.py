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


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread: on a busy small machine, torch's spinning worker threads slow the
    small networks of the tests down by orders of magnitude."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
