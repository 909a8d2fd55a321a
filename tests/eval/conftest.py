"""Fixtures for the evaluation tests: the misbehaving GTP test double and engine availability."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from gozero.eval.engines import find_gnugo, find_pachi

FAKE = Path(__file__).with_name("fake_gtp.py")


def _fake_spec(*flags: str) -> str:
    return "gtp:" + shlex.join([sys.executable, str(FAKE), *flags])


@pytest.fixture
def fake_spec():
    """Engine spec of the fake GTP engine with the given command-line flags: ``fake_spec("--crash-at", "2")``."""
    return _fake_spec


@pytest.fixture
def fake_path() -> Path:
    return FAKE


@pytest.fixture
def need_gnugo(missing_engine) -> str:
    path = find_gnugo()
    if path is None:
        missing_engine("GNU Go is not installed (apt-get install gnugo)")
    return path


@pytest.fixture
def need_pachi(missing_engine) -> str:
    path = find_pachi()
    if path is None:
        missing_engine("Pachi is not built (bash scripts/build_pachi.sh)")
    return path
