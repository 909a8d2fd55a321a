"""``python -m gozero.train``: the train command alone (for machines without the web extras)."""

import typer

from .cli import export_model_cmd, train

app = typer.Typer(add_completion=False)
app.command("train")(train)
app.command("export-model")(export_model_cmd)


@app.callback()
def main() -> None:
    """gozero training."""


if __name__ == "__main__":
    app()
