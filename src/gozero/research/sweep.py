"""`gozero research sweep`: Optuna's TPE sampler over an experiment's ``[search_space]``.

The study lives in ``EXP/sweep.sqlite3`` (Optuna's RDB storage), so a sweep killed at any
point resumes with the same command: trials it left running are marked failed and their
parameters queued again, and the sweep goes on until ``trials`` trials have finished
(complete, pruned, or crashed: a crash is a result too). Each trial is one `run_trial` with
the sampled values as ``--set`` overrides; with pruning it is rated at the experiment's
``[sweep] prune_fractions`` of its budget (on ``prune_games`` games per member) and Optuna's
median pruner may stop it there. Every trial, pruned and crashed ones included, becomes a
ledger row carrying its trial number, written by the sweep (`Ledger.record`).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable

from .experiment import Experiment, _toml_value
from .ledger import Ledger
from .trial import TrialSpec, run_trial

STUDY = "sweep"


def storage_url(exp: Experiment) -> str:
    return f"sqlite:///{(exp.dir / 'sweep.sqlite3').resolve()}"


def load_study(exp: Experiment, seed: int = 0, create: bool = True):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=4)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if not create:
        return optuna.load_study(study_name=STUDY, storage=storage_url(exp), sampler=sampler, pruner=pruner)
    return optuna.create_study(study_name=STUDY, storage=storage_url(exp), sampler=sampler, pruner=pruner,
                               direction="maximize", load_if_exists=True)


def finished(study) -> int:
    """Trials that count towards the target: complete, pruned, or crashed."""
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
               or (t.state == TrialState.FAIL and t.user_attrs.get("crash")))


def _suggest(trial, exp: Experiment) -> dict:
    values = {}
    for p in exp.space:
        if p.choices:
            values[p.key] = trial.suggest_categorical(p.key, list(p.choices))
        elif p.is_int:
            values[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), log=p.log)
        else:
            values[p.key] = trial.suggest_float(p.key, float(p.low), float(p.high), log=p.log)
    return values


def run_sweep(exp: Experiment, trials: int, budget: float, seed: int = 0, prune: bool = True,
              backend: str = "local", on_row: Callable[[dict, int], None] | None = None,
              on_progress: Callable[[str, int], None] | None = None) -> None:
    """Run trials until ``trials`` have finished in the experiment's study."""
    from optuna.trial import TrialState

    with open(exp.dir / ".sweep.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another sweep is running on {exp.dir}") from None
        study = load_study(exp, seed)
        ledger = Ledger(exp.dir)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # left by a killed sweep
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        while (done := finished(study)) < trials:
            trial = study.ask()
            values = _suggest(trial, exp)
            overrides = [f"{k}={_toml_value(v)}" for k, v in values.items()]
            desc = f"sweep trial {trial.number}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                               for k, v in values.items())
            spec = TrialSpec(str(exp.dir), seed=seed, budget=budget, overrides=overrides, description=desc,
                             trial=trial.number, prune_fractions=exp.prune_fractions if prune else ())
            trial.set_user_attr("run_id", spec.run_id)

            def intermediate(fraction: float, elo: float, trial=trial) -> bool:
                trial.report(elo, step=int(round(fraction * 1000)))
                return trial.should_prune()

            def progress(text: str, trial=trial, done=done) -> None:
                if on_progress is not None:
                    on_progress(f"trial {trial.number}: {text}", done)

            row = run_trial(spec, backend, on_intermediate=intermediate if prune else None, progress=progress)
            row = ledger.record(row)
            if on_row is not None:
                on_row(row, done + 1)
            if row["status"] == "crash":
                trial.set_user_attr("crash", True)
                study.tell(trial, state=TrialState.FAIL)
            elif row["status"] == "pruned":
                study.tell(trial, state=TrialState.PRUNED)
            else:
                study.tell(trial, float(row["elo"]))


__all__ = ["finished", "load_study", "run_sweep", "storage_url"]
