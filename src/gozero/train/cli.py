"""``gozero train``: start, resume or supervise a training run from a TOML preset."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def _default_run_dir(preset: str) -> Path:
    return Path("runs") / f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    preset: str = typer.Option("9x9", help="preset: tiny (5x5, minutes), 9x9 (default, CPU), 19x19 (GPU)"),
    config: Path | None = typer.Option(None, help="a TOML config file instead of a preset"),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="run directory (default runs/PRESET-TIME)"),
    resume: Path | None = typer.Option(None, help="resume the run in this directory"),
    set_: list[str] = typer.Option([], "--set", help="override a key: section.key=value (repeatable)"),
    sgf: Path | None = typer.Option(None, help="supervised learning from this folder of SGF games"),
    epochs: float = typer.Option(2.0, help="--sgf: passes over the SGF positions"),
    train_steps: int = typer.Option(0, "--train-steps", help="with --resume: train this many steps on the "
                                    "run's replay window, no self-play (e.g. a learning-rate drop: "
                                    "--set train.lr=0.0002), then stop"),
    cluster: str | None = typer.Option(None, help="self-play on Ray: local (a Ray instance here), auto (the "
                                       "cluster this machine joined), HOST:PORT, or off (local processes); "
                                       "sets cluster.address (see docs/cluster.md)"),
    show_config: bool = typer.Option(False, help="print the resolved config and exit"),
) -> None:
    """Train a network by self-play (AlphaZero loop), or on SGF games with --sgf."""
    from rich.console import Console
    from rich.markup import escape

    from .config import load_config, to_toml

    console = Console(stderr=True)
    if not console.is_terminal:
        console = Console(stderr=True, width=160)  # logs to a file: one row per generation
    if cluster is not None:
        set_ = [*set_, f'cluster.address="{"" if cluster.strip() == "off" else cluster.strip()}"']
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
    if cfg.cluster.address:
        from .cluster import ClusterError, check_cluster_name, require_ray

        try:
            check_cluster_name(cfg.cluster.address)
            require_ray()
        except (ClusterError, ValueError) as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from exc
    if train_steps and resume is None:
        console.print("[red]error:[/red] --train-steps needs --resume RUN (it trains an existing run's window)")
        raise typer.Exit(2)
    if train_steps < 0:
        console.print(f"[red]error:[/red] --train-steps must be >= 0, not {train_steps}")
        raise typer.Exit(2)
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
    if train_steps:
        try:
            done = run.train_only(train_steps, on_round=progress.update)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        except KeyboardInterrupt:
            console.print("interrupted: the last checkpoint is kept (every 200 steps)")
            raise typer.Exit(130) from None
        console.print(f"trained {done} steps without self-play; now at step {run.trainer.step}")
        return
    try:
        run.run(on_generation=progress.update, on_progress=progress.playing)
    except RuntimeError as exc:
        from .cluster import ClusterError

        if not isinstance(exc, ClusterError):
            raise
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        progress.close()
        console.print("interrupted: the last checkpoint is kept; resume with "
                      f"gozero train --resume {run.dir}")
        raise typer.Exit(130) from None
    finally:
        progress.close()


def export_model_cmd(
    checkpoint: Path = typer.Argument(..., help="a run's checkpoints/latest.pt, a snapshot, or a model file"),
    out: Path = typer.Argument(..., help="the model file to write (e.g. src/gozero/models/9x9.pt)"),
    fp32: bool = typer.Option(False, "--fp32", help="keep fp32 weights (default: fp16, half the size)"),
    source: str = typer.Option(None, help="a line on where the model comes from, kept in the file"),
) -> None:
    """Write a checkpoint's network as a model file to ship or play with (no optimizer state)."""
    from .loop import export_model

    try:
        meta = export_model(checkpoint, out, half=not fp32, source=source)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    size = out.stat().st_size
    typer.echo(f"wrote {out} ({size / 1e6:.2f} MB, {'fp32' if fp32 else 'fp16'}): "
               + ", ".join(f"{k} {v}" for k, v in meta.items()))
