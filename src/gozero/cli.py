"""The ``gozero`` command: one sub-command per job, each defined next to the code it drives.

Sub-commands import their stage lazily so that ``gozero gtp`` starts fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="gozero: learn Go by search and self-play; play it over GTP or in a browser.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """gozero: learn Go by search and self-play; play it over GTP or in a browser."""


def _register() -> None:
    for module in ("gozero.play.gtp_cli", "gozero.rules.demo_cli", "gozero.train.cli", "gozero.eval.cli",
                   "gozero.play.web_cli", "gozero.research.cli", "gozero.selfplay.gen_cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(app)


_register()

if __name__ == "__main__":
    app()
