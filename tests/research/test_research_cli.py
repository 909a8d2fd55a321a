"""The research commands' surface: new, ledger and report on an empty experiment, and clear
errors for bad input (nothing is created or run)."""

import json

from typer.testing import CliRunner

from gozero.cli import app

runner = CliRunner()


def test_new_ledger_report_and_errors(tmp_path):
    res = runner.invoke(app, ["research", "new", "First try", "--from", "tiny", "--budget", "30s", "--root",
                              str(tmp_path), "--panel", "random", "--json"])
    assert res.exit_code == 0, res.output
    folder = json.loads(res.stdout)["experiment"]
    assert folder.endswith("-first-try")
    res = runner.invoke(app, ["research", "ledger", folder, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == []
    res = runner.invoke(app, ["research", "report", folder, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["runs"] == 0
    bad = [
        ["research", "new", "First try", "--from", "tiny", "--root", str(tmp_path)],  # exists
        ["research", "new", "x", "--from", "nope", "--root", str(tmp_path)],  # unknown preset
        ["research", "run", folder, "--set", "train.nope=1"],  # unknown key
        ["research", "run", folder, "--budget", "soon"],  # bad budget
        ["research", "run", folder, "--budget", "0"],  # a zero budget needs --init
        ["research", "run", folder, "--init", str(tmp_path / "missing.pt")],
        ["research", "sweep", folder, "--trials", "0"],
        ["research", "ledger", str(tmp_path / "nowhere")],
    ]
    for argv in bad:
        res = runner.invoke(app, argv)
        assert res.exit_code == 2, (argv, res.output)
        assert "error" in res.output
    assert json.loads(runner.invoke(app, ["research", "ledger", folder, "--json"]).stdout) == []
