"""Engine spec parsing and the GTP controller's error handling."""

from __future__ import annotations

import sys

import pytest

from gozero.eval.engines import SpecError, parse_spec, with_search_settings
from gozero.eval.gtp_client import EngineCrashed, EngineNotFound, EngineTimeout, GTPError, GTPProcess


@pytest.mark.parametrize("text, spec, kind", [
    ("random", "random", "random"),
    ("gnugo:3", "gnugo:3", "gnugo"),
    ("GNUGO:10", "gnugo:10", "gnugo"),
    ("pachi:5000", "pachi:5000", "pachi"),
    ("katago:16", "katago:16", "katago"),
])
def test_parse_known_specs(text: str, spec: str, kind: str) -> None:
    s = parse_spec(text)
    assert (s.spec, s.kind) == (spec, kind)


def test_gnugo_and_pachi_command_lines_carry_budget_and_seed(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    fake_bin = tmp_path / "pachi"
    fake_bin.write_text("#!/bin/sh\n")
    fake_bin.chmod(0o755)
    monkeypatch.setenv("GOZERO_PACHI", str(fake_bin))
    monkeypatch.setenv("GOZERO_GNUGO", str(fake_bin))
    argv = parse_spec("pachi:700").command_line(seed=5)
    assert argv[:3] == [str(fake_bin), "-s", "5"] and "=700" in argv and "threads=1,pondering=0" in argv
    argv = parse_spec("gnugo:7").command_line(seed=9)
    assert argv[-4:] == ["--level", "7", "-r", "9"] and "--chinese-rules" in argv


def test_gozero_spec_resolves_checkpoint_and_visits(tmp_path) -> None:
    s = parse_spec(f"gozero:{tmp_path}/step_00000010.pt@32")
    assert s.params["visits"] == 32 and s.params["checkpoint"].endswith("step_00000010.pt")
    assert s.argv[-4:] == ("--model", s.params["checkpoint"], "--visits", "32")
    with pytest.raises(EngineNotFound, match="does not exist"):
        s.check_available()


def test_gozero_spec_search_settings(tmp_path) -> None:
    ckpt = f"{tmp_path}/m.pt"
    s = parse_spec(f"gozero:{ckpt}@32{{leaves_per_game=4, fpu_reduction=0.3}}")
    assert s.spec == f"gozero:{ckpt}@32{{fpu_reduction=0.3,leaves_per_game=4}}"  # sorted, canonical
    assert parse_spec(s.spec).spec == s.spec
    assert s.params["search"] == {"fpu_reduction": "0.3", "leaves_per_game": "4"}
    assert s.argv[-4:] == ("--set", "search.fpu_reduction=0.3", "--set", "search.leaves_per_game=4")
    # a setting equal to the package's play settings names the same player as none
    assert parse_spec(f"gozero:{ckpt}@32{{algorithm=puct}}").spec == f"gozero:{ckpt}@32"
    assert with_search_settings(f"gozero:{ckpt}@32", None, ["search.c_puct_init=2"]) == \
        f"gozero:{ckpt}@32{{c_puct_init=2.0}}"
    conf = tmp_path / "play.toml"
    conf.write_text("[search]\nfpu_reduction = 0.5\nalgorithm = 'gumbel'\n")
    assert with_search_settings(f"gozero:{ckpt}@32{{fpu_reduction=0.1}}", conf, ["search.fpu_reduction=0.2"]) == \
        f"gozero:{ckpt}@32{{algorithm=gumbel,fpu_reduction=0.1}}"  # the spec's own wins, then --set, then the file
    assert with_search_settings("gnugo:3", conf, ["search.fpu_reduction=0.2"]) == "gnugo:3"
    for bad, message in (("{nope=1}", "search.nope"), ("{fpu_reduction}", "key=value"), ("}", "without"),
                         ("{search.fpu_reduction=1}", "a \\[search\\] key")):
        with pytest.raises(SpecError, match=message):
            parse_spec(f"gozero:{ckpt}@8{bad}")


def test_gozero_engine_starts_with_its_search_settings() -> None:
    import subprocess

    argv = parse_spec("gozero:random@8{fpu_reduction=0.3}").command_line(seed=1)
    proc = subprocess.run(argv, input="name\nquit\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("= gozero"), proc.stderr
    argv = [a.replace("0.3", "lots") for a in argv]
    proc = subprocess.run(argv, input="quit\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "search.fpu_reduction" in proc.stderr


def test_gtp_spec_splits_quoted_command() -> None:
    s = parse_spec('gtp:my-engine --flag "a b"')
    assert s.argv == ("my-engine", "--flag", "a b")


@pytest.mark.parametrize("bad, message", [
    ("", "empty"), ("foo", "unknown engine"), ("gnugo:11", "0..10"), ("gnugo:x", "integer"),
    ("pachi:100", "at least 500"), ("gozero:@8", "CHECKPOINT"), ("gozero:x.pt@0", ">= 1"), ("random:3", "no parameter"),
    ("gtp:", "command line"), ('gtp:a "b', "cannot split"),
])
def test_bad_specs_are_refused_with_a_reason(bad: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(bad)


def test_missing_katago_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GOZERO_KATAGO", "GOZERO_KATAGO_MODEL", "GOZERO_KATAGO_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(EngineNotFound, match="GOZERO_KATAGO_MODEL"):
        parse_spec("katago").check_available()


def test_gtp_process_reports_refusal_crash_timeout(fake_path) -> None:
    with GTPProcess([sys.executable, str(fake_path), "--refuse-size", "13", "--crash-at", "2", "--hang-at", "1"],
                    label="fake", timeout=10) as g:
        assert g.command("name") == "fake"
        with pytest.raises(GTPError, match="unacceptable size"):
            g.command("boardsize 13")
        with pytest.raises(EngineTimeout, match="no answer"):
            g.command("genmove b", timeout=0.5)
    with GTPProcess([sys.executable, str(fake_path), "--crash-at", "1"], label="fake", timeout=10) as g:
        with pytest.raises(EngineCrashed, match="deliberate crash"):
            g.command("genmove b")
        with pytest.raises(EngineCrashed):
            g.command("name")


def test_missing_program_is_engine_not_found() -> None:
    with pytest.raises(EngineNotFound, match="cannot start"):
        GTPProcess(["/nonexistent/engine"])
