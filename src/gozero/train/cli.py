"""``gozero train``: start, resume or supervise a training run from a TOML preset."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def _default_run_dir(preset: str) -> Path:
    return Path("runs") / f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        preset: str = typer.Option("9x9", help="preset: tiny (5x5, minutes), 9x9 (default, CPU), 19x19 (GPU)"),
        config: Path | None = typer.Option(None, help="a TOML config file instead of a preset"),
        run_dir: Path | None = typer.Option(None, "--run-dir", help="run directory (default runs/PRESET-TIME)"),
        resume: Path | None = typer.Option(None, help="resume the run in this directory"),
        set_: list[str] = typer.Option([], "--set", help="override a key: section.key=value (repeatable)"),
        sgf: Path | None = typer.Option(None, help="supervised learning from this folder of SGF games"),
        epochs: float = typer.Option(2.0, help="--sgf: passes over the SGF positions"),
        show_config: bool = typer.Option(False, help="print the resolved config and exit"),
    ) -> None:
        """Train a network by self-play (AlphaZero loop), or on SGF games with --sgf."""
        from rich.console import Console

        from .config import load_config, to_toml

        console = Console(stderr=True)
        if not console.is_terminal:
            console = Console(stderr=True, width=160)  # logs to a file: one row per generation
        try:
            if resume is not None:
                cfg = load_config(file=resume / "config.toml", overrides=set_)
            else:
                cfg = load_config(preset=None if config else preset, file=config, overrides=set_)
        except (ValueError, FileNotFoundError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        if show_config:
            typer.echo(to_toml(cfg))
            return
        if sgf is not None:
            from .supervised import train_on_sgf

            out = run_dir or _default_run_dir("sgf")
            try:
                train_on_sgf(sgf, out, cfg, epochs=epochs, log=console.print)
            except (FileExistsError, FileNotFoundError, ValueError) as exc:
                console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from exc
            return
        from .loop import TrainingRun
        from .progress import Progress

        try:
            if resume is not None:
                run = TrainingRun.resume(resume, log=console.print, overrides=set_)
            else:
                out = run_dir or _default_run_dir(preset if config is None else config.stem)
                run = TrainingRun.create(out, cfg, log=console.print)
                console.print(f"run directory: {out}")
        except (FileExistsError, FileNotFoundError, ValueError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        progress = Progress(console)
        try:
            run.run(on_generation=progress.update)
        except KeyboardInterrupt:
            console.print("interrupted: the last checkpoint is kept; resume with "
                          f"gozero train --resume {run.dir}")
            raise typer.Exit(130) from None
