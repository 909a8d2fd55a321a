"""The ``gozero`` command: one sub-command per job, each a top-level function in the
``*_cli`` module next to the code it drives, registered here one by one.

The ``*_cli`` modules import only typer at the top; each command imports its stage when
it runs, so that ``gozero gtp`` starts fast.
"""

from __future__ import annotations

import typer

from gozero.eval import cli as eval_cli
from gozero.play import analysis_cli, gtp_cli, web_cli
from gozero.research import cli as research_cli
from gozero.rules import demo_cli
from gozero.selfplay import gen_cli
from gozero.train import cli as train_cli

app = typer.Typer(help="gozero: learn Go by search and self-play; play it over GTP or in a browser.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """gozero: learn Go by search and self-play; play it over GTP or in a browser."""


app.command("train")(train_cli.train)
app.command("export-model")(train_cli.export_model_cmd)
app.command("gen-sgf")(gen_cli.gen_sgf)
app.command("gtp")(gtp_cli.gtp)
app.command("play")(web_cli.play)
app.command("analysis")(analysis_cli.analysis)
app.command("match")(eval_cli.match)
app.command("ladder")(eval_cli.ladder)
app.command("report")(eval_cli.report)
app.command("setup-engines")(eval_cli.setup_engines)
app.command("demo")(demo_cli.demo)
app.add_typer(research_cli.research_app, name="research")

if __name__ == "__main__":
    app()
