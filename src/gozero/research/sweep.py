"""`gozero research sweep`: Optuna's TPE sampler over an experiment's ``[search_space]``.

The study lives in ``EXP/sweep.sqlite3`` (Optuna's RDB storage), so a sweep killed at any
point resumes with the same command: trials it left running are marked failed and their
parameters queued again, and the sweep goes on until ``trials`` trials have finished
(complete, pruned, or crashed: a crash is a result too). Each trial is one `run_trial` with
the sampled values as ``--set`` overrides; with pruning it is rated at the experiment's
``[sweep] prune_fractions`` of its budget (on ``prune_games`` games per member) and Optuna's
median pruner may stop it there. Every trial, pruned and crashed ones included, becomes a
ledger row carrying its trial number, written by the sweep (`Ledger.record`).

Here trials run one after another. With ``cluster`` (``--cluster local|auto|ADDRESS``)
they run as Ray tasks (`gozero.research.cluster_trials.RayTrials`), as many at once as the
cluster has trial slots (or ``parallel``): the sweep asks Optuna for a new trial whenever
one finishes (TPE with the constant liar, so that trials in flight are not sampled twice),
answers the trials' intermediate ratings for the pruner while they run, and appends their
rows as they finish. This process stays the only one that touches the study and the ledger.
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


def load_study(exp: Experiment, seed: int = 0, create: bool = True, constant_liar: bool = False):
    """The experiment's study (``constant_liar``: TPE counts trials in flight as poor ones,
    for a sweep with several trials running at once)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=4, constant_liar=constant_liar)
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


class SerialTrials:
    """Trials in this process, one at a time, through `run_trial` (the pool of a sweep
    without ``--cluster``): `wait` runs the trial `submit` gave it."""

    slots = 1

    def __init__(self, backend: str = "local"):
        self.backend = backend
        self._queue: list[tuple] = []

    def submit(self, spec: TrialSpec, on_intermediate=None, progress=None) -> None:
        self._queue.append((spec, on_intermediate, progress))

    def wait(self, timeout: float | None = None) -> list[tuple[TrialSpec, dict]]:
        if not self._queue:
            return []
        spec, on_intermediate, progress = self._queue.pop(0)
        return [(spec, run_trial(spec, self.backend, on_intermediate=on_intermediate, progress=progress))]

    def close(self) -> None:
        self._queue.clear()


def run_sweep(exp: Experiment, trials: int, budget: float, seed: int = 0, prune: bool = True,
              backend: str = "local", on_row: Callable[[dict, int], None] | None = None,
              on_progress: Callable[[str, int], None] | None = None, cluster: str | None = None,
              parallel: int = 0, trial_cpus: float = 1.0, pool=None) -> None:
    """Run trials until ``trials`` have finished in the experiment's study.

    ``cluster`` (or ``backend="ray"``, on a local Ray instance unless a session is open)
    runs them on Ray, ``parallel`` at once (0: the cluster's slots of ``trial_cpus`` CPUs
    each); ``pool`` replaces the trial pool (an object with ``slots``, ``submit``, ``wait``
    and ``close``, as `SerialTrials`)."""
    from optuna.trial import TrialState

    if parallel < 0:
        raise ValueError("parallel must be >= 0")
    with open(exp.dir / ".sweep.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another sweep is running on {exp.dir}") from None
        if pool is None and (cluster or backend == "ray"):
            from .cluster_trials import DEFAULT_CLUSTER, RayTrials

            pool = RayTrials(cluster or DEFAULT_CLUSTER, num_cpus=trial_cpus)
        elif pool is None:
            pool = SerialTrials(backend)
        try:
            width = max(1, parallel or pool.slots)
            study = load_study(exp, seed, constant_liar=width > 1)
            ledger = Ledger(exp.dir)
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # left by a killed sweep
                study.tell(t.number, state=TrialState.FAIL)
                study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
            in_flight: dict[str, object] = {}  # run id -> its Optuna trial
            while True:
                done = finished(study)
                while done + len(in_flight) < trials and len(in_flight) < width:
                    trial, spec = _start(study, exp, seed, budget, prune)
                    in_flight[spec.run_id] = trial

                    def intermediate(fraction: float, elo: float, trial=trial) -> bool:
                        trial.report(elo, step=int(round(fraction * 1000)))
                        return trial.should_prune()

                    def progress(text: str, trial=trial) -> None:
                        if on_progress is not None:
                            on_progress(f"trial {trial.number}: {text}", finished(study))

                    pool.submit(spec, intermediate if prune else None, progress)
                if not in_flight:
                    break
                results = pool.wait()
                if not results:
                    raise RuntimeError(f"the trial pool holds none of the {len(in_flight)} trials in flight")
                for spec, row in results:
                    trial = in_flight.pop(spec.run_id)
                    row = ledger.record(row)
                    if row["status"] == "crash":
                        trial.set_user_attr("crash", True)
                        study.tell(trial, state=TrialState.FAIL)
                    elif row["status"] == "pruned":
                        study.tell(trial, state=TrialState.PRUNED)
                    else:
                        study.tell(trial, float(row["elo"]))
                    if on_row is not None:
                        on_row(row, finished(study))
        finally:
            pool.close()


def _start(study, exp: Experiment, seed: int, budget: float, prune: bool):
    """A new trial of the study and the spec of its run."""
    trial = study.ask()
    values = _suggest(trial, exp)
    overrides = [f"{k}={_toml_value(v)}" for k, v in values.items()]
    desc = f"sweep trial {trial.number}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                       for k, v in values.items())
    spec = TrialSpec(str(exp.dir), seed=seed, budget=budget, overrides=overrides, description=desc,
                     trial=trial.number, prune_fractions=exp.prune_fractions if prune else ())
    trial.set_user_attr("run_id", spec.run_id)
    return trial, spec


__all__ = ["SerialTrials", "finished", "load_study", "run_sweep", "storage_url"]
