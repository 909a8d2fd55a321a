"""``python -m gozero.train``: the train command alone (for machines without the web extras)."""

import typer

from .cli import register

app = typer.Typer(add_completion=False)
register(app)


@app.callback()
def main() -> None:
    """gozero training."""


if __name__ == "__main__":
    app()
