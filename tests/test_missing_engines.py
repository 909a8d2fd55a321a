"""The rule for a test whose engine is missing: a failure, a skip only when asked for."""

from __future__ import annotations

import pytest


def test_missing_engine_fails_unless_the_opt_out_is_set(missing_engine, monkeypatch) -> None:
    monkeypatch.delenv("GOZERO_ALLOW_MISSING_ENGINES", raising=False)
    with pytest.raises(pytest.fail.Exception, match="Pachi is not built; set GOZERO_ALLOW_MISSING_ENGINES=1"):
        missing_engine("Pachi is not built")
    monkeypatch.setenv("GOZERO_ALLOW_MISSING_ENGINES", "0")
    with pytest.raises(pytest.fail.Exception):
        missing_engine("Pachi is not built")
    monkeypatch.setenv("GOZERO_ALLOW_MISSING_ENGINES", "1")
    with pytest.raises(pytest.skip.Exception, match="Pachi is not built"):
        missing_engine("Pachi is not built")
