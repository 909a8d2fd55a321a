"""Research trials on a Ray cluster (``gozero research run/sweep --cluster``): train there, record here.

Each trial is one Ray task (``num_cpus`` = the CPUs a trial uses, 1 by default: the
experiments train with one torch thread and self-play in-process) that runs `execute_trial`
on some node in a scratch copy of the experiment folder. The folder's files travel with
the task (``experiment.toml``, ``calibration.json``, a config-file preset and ``net:`` panel
members inside the folder); an ``--init`` checkpoint goes through the object store once and is cached on the
node by content hash, as `gozero match --cluster` does with checkpoints. No shared
filesystem is assumed: the task returns its ledger row and the small artefacts the row
points to (``run.log``, ``spec.json``, ``config.toml``, ``ratings.jsonl``, the training
metrics and the final ``model_latest.pt``), the paths in them rewritten to the driver's;
the driver writes them under ``EXP/runs/<run id>/`` where a local run would have, and
the scratch folder is removed. The training directory's shards and full checkpoints stay
behind with the scratch copy (a cluster trial cannot be resumed on the driver).

Pruning: the remote `execute_trial` calls its ``on_intermediate`` as a local run does; that
call sends ``(fraction, elo)`` to a `TrialMailbox` actor and blocks until the driver, which
polls the mailbox while it waits for tasks, has asked its own ``on_intermediate`` (Optuna's
``report``/``should_prune``) and answered. Progress lines go the same way, without an
answer. So the driver alone touches Optuna's storage and the ledger.

Faults: a task whose worker or node dies is run again once by Ray (``max_retries=1``); lost
again, or raising, it becomes a ``crash`` row saying why, with ``spec.json``, ``config.toml``
and a ``run.log`` written by the driver, and a sweep goes on.

`RayTrials` is the pool a parallel sweep keeps full (``submit``, ``wait``); `ray_trial`
runs one trial on it and is registered as the ``ray`` backend of `run_trial`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from gozero.train.cluster import ClusterSession, cluster_cpus, fetch_shipped, require_ray, ship_file
from gozero.train.config import to_toml

from .experiment import load_experiment
from .panel import member_kind, network_path
from .trial import TrialSpec, code_commit, config_hash, execute_trial, register_backend

ASK_TIMEOUT = 3600.0  # seconds a remote trial waits for a prune answer before it goes on unpruned
POLL_SECONDS = 0.25  # how often the driver reads the mailbox while trials run
# the artefacts a trial sends back, relative to its run folder (those that exist)
ARTEFACTS = ("run.log", "spec.json", "config.toml", "ratings.jsonl", "train/metrics.jsonl",
             "train/checkpoints/model_latest.pt")
TEXT_SUFFIXES = (".log", ".json", ".jsonl", ".toml")


class TrialMailbox:
    """A Ray actor (async, no CPUs) between remote trials and the driver: questions
    ``(run id, fraction, elo)`` wait here for the driver's prune answer; progress lines wait
    to be read."""

    def __init__(self) -> None:
        self.questions: list[tuple[str, float, float]] = []
        self.news: list[tuple[str, str]] = []
        self.waiting: dict[tuple[str, float], asyncio.Future] = {}

    async def ask(self, key: str, fraction: float, elo: float) -> bool:
        fut = self.waiting.get((key, fraction))
        if fut is None:  # a retried task asks again: one question, one answer
            fut = self.waiting[(key, fraction)] = asyncio.get_running_loop().create_future()
            self.questions.append((key, fraction, elo))
        return await fut

    async def say(self, key: str, text: str) -> None:
        self.news.append((key, text))

    async def collect(self) -> tuple[list, list]:
        out = (self.questions, self.news)
        self.questions, self.news = [], []
        return out

    async def answer(self, key: str, fraction: float, prune: bool) -> None:
        fut = self.waiting.pop((key, fraction), None)
        if fut is not None and not fut.done():
            fut.set_result(bool(prune))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def remote_trial(spec: TrialSpec, files: dict[str, bytes], shipped: dict[str, tuple[str, list]],
                 init: tuple[str, list] | None, mailbox, ask: bool,
                 trial_fn: Callable[..., dict] | None = None) -> dict:
    """On a node: run ``spec`` in a scratch copy of its experiment; the row and its artefacts.

    ``files`` are the experiment's small files (relative path -> bytes), ``shipped`` the
    large ones (relative path -> `ship_file`), ``init`` the shipped --init checkpoint."""
    ray = require_ray()
    key = spec.run_id
    scratch = Path(tempfile.mkdtemp(prefix="gozero-trial-"))
    try:
        for rel, data in files.items():
            _write_atomic(scratch / rel, data)
        for rel, sh in shipped.items():
            dest = scratch / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(fetch_shipped(sh, Path(rel).suffix), dest)
        local_init = str(fetch_shipped(init, ".pt")) if init else ""
        local = replace(spec, exp_dir=str(scratch), init=local_init)

        def on_intermediate(fraction: float, elo: float) -> bool:
            try:
                return bool(ray.get(mailbox.ask.remote(key, float(fraction), float(elo)), timeout=ASK_TIMEOUT))
            except Exception:  # noqa: BLE001 - no answer (driver gone or slow): go on unpruned
                return False

        def progress(text: str) -> None:
            mailbox.say.remote(key, text)

        row = (trial_fn or execute_trial)(local, on_intermediate=on_intermediate if ask else None,
                                          progress=progress)
        row = dict(row, init=spec.init)
        back: dict[str, bytes] = {}
        run_dir = scratch / "runs" / spec.run_id
        for rel in ARTEFACTS:
            p = run_dir / rel
            if not p.is_file():
                continue
            data = p.read_bytes()
            if p.suffix in TEXT_SUFFIXES:  # the node's paths become the driver's
                text = data.decode("utf-8", "replace")
                if local_init:
                    text = text.replace(json.dumps(local_init)[1:-1], json.dumps(spec.init)[1:-1])
                text = text.replace(json.dumps(str(scratch))[1:-1], json.dumps(spec.exp_dir)[1:-1])
                data = text.encode()
            back[f"runs/{spec.run_id}/{rel}"] = data
        cal = scratch / "calibration.json"
        if "calibration.json" not in files and cal.is_file():  # played here: the driver may keep it
            back["calibration.json"] = cal.read_bytes()
        return {"row": row, "files": back, "node": socket.gethostname()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class _Job:
    spec: TrialSpec
    on_intermediate: Callable[[float, float], bool] | None
    progress: Callable[[str], None] | None


def _reason(exc: BaseException) -> str:
    """One line on why a trial's task failed."""
    ray = require_ray()
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        return f"the trial raised {type(cause).__name__}: {cause}"
    lost = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OwnerDiedError)
    what = "its worker or node died" if isinstance(exc, lost) else type(exc).__name__
    text = " ".join(str(exc).split())[:300]
    return f"the trial's Ray task was lost twice ({what}): {text}"


def lost_row(spec: TrialSpec, reason: str) -> dict:
    """The crash row of a trial whose task came back without one; writes the run folder's
    ``spec.json``, ``config.toml`` and ``run.log`` (the reason) so that the row's log exists."""
    exp = load_experiment(spec.exp_dir)
    budget = float(exp.budget if spec.budget is None else spec.budget)
    run_dir = exp.runs_dir / spec.run_id
    log = run_dir / "run.log"
    try:
        cfg = exp.config(list(spec.overrides) + [f"run.seed={spec.seed}"])
        chash = config_hash(cfg)
        _write_atomic(run_dir / "config.toml", to_toml(cfg).encode())
    except ValueError:
        chash = ""
    _write_atomic(run_dir / "spec.json", json.dumps(asdict(spec), indent=1).encode())
    with open(log, "a") as fh:
        fh.write(f"[research] crash: {reason}\n")
    return {"run_id": spec.run_id, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "commit": code_commit(), "config_hash": chash, "seed": spec.seed, "budget_s": budget, "cpu_s": 0.0,
            "eval_cpu_s": 0.0, "elo": None, "elo_low": None, "elo_high": None, "raw_elo": None, "status": "crash",
            "description": (spec.description + "; " if spec.description else "") + reason,
            "overrides": json.dumps(list(spec.overrides)), "init": spec.init, "trial": spec.trial, "steps": 0,
            "games": 0, "log": str(log.relative_to(exp.dir))}


class RayTrials:
    """Trials as Ray tasks: `submit` a spec, `wait` for finished ``(spec, row)`` pairs.

    The pool answers the remote trials' intermediate ratings while it waits (each with the
    ``on_intermediate`` given at `submit`), writes every returned artefact under the
    experiment folder, and turns a lost or failed task into a crash row. ``trial_fn``
    replaces `execute_trial` on the nodes (it must pickle)."""

    def __init__(self, cluster: str = "local", num_cpus: float = 1.0, max_retries: int = 1,
                 trial_fn: Callable[..., dict] | None = None, local_cpus: int | None = None):
        self.session = ClusterSession(cluster, num_cpus=local_cpus)
        ray = require_ray()
        self.num_cpus = float(num_cpus)
        self.trial_fn = trial_fn
        self._task = ray.remote(remote_trial).options(num_cpus=num_cpus, max_retries=max_retries,
                                                      retry_exceptions=False)
        self.mailbox = ray.remote(TrialMailbox).options(num_cpus=0).remote()
        self._shipped: dict[str, tuple[str, list]] = {}
        self._pending: dict = {}  # object ref -> _Job
        self._jobs: dict[str, _Job] = {}  # run id -> _Job

    @property
    def slots(self) -> int:
        """Trials the cluster runs at once (at least 1)."""
        return max(1, int(cluster_cpus() // self.num_cpus)) if self.num_cpus > 0 else 1

    def in_flight(self) -> int:
        return len(self._pending)

    def _ship(self, path: Path) -> tuple[str, list]:
        key = str(path.resolve())
        if key not in self._shipped:
            self._shipped[key] = ship_file(path)
        return self._shipped[key]

    def submit(self, spec: TrialSpec, on_intermediate: Callable[[float, float], bool] | None = None,
               progress: Callable[[str], None] | None = None) -> None:
        """Start ``spec`` on the cluster (the experiment's files are read now)."""
        exp = load_experiment(spec.exp_dir)
        toml = exp.toml_path.read_bytes()
        files = {}
        if exp.preset.endswith(".toml"):  # a config-file preset (maybe outside the folder): beside it, by name
            name = Path(exp.preset).name
            files[name] = (exp.dir / exp.preset).read_bytes()
            if name != exp.preset:
                toml = re.sub(rb'(?m)^preset\s*=\s*"[^"]*"', b'preset = "' + name.encode() + b'"', toml, count=1)
        files["experiment.toml"] = toml
        cal = exp.dir / "calibration.json"
        if cal.is_file():
            files["calibration.json"] = cal.read_bytes()
        shipped = {}
        for m in exp.panel.members:  # network members inside the folder travel with it
            if member_kind(m) != "net":
                continue
            path, _ = network_path(m, exp.dir)
            try:
                rel = path.resolve().relative_to(exp.dir.resolve())
            except ValueError:
                continue  # outside the folder: it must be on every node at that path
            if path.is_file():
                shipped[str(rel)] = self._ship(path)
        init = self._ship(Path(spec.init)) if spec.init else None
        job = _Job(spec, on_intermediate, progress)
        ref = self._task.remote(spec, files, shipped, init, self.mailbox, on_intermediate is not None, self.trial_fn)
        self._pending[ref] = job
        self._jobs[spec.run_id] = job

    def _pump(self) -> None:
        """Answer the remote trials' questions and pass their progress on."""
        ray = require_ray()
        questions, news = ray.get(self.mailbox.collect.remote())
        for key, text in news:
            job = self._jobs.get(key)
            if job is not None and job.progress is not None:
                job.progress(text)
        for key, fraction, elo in questions:
            job = self._jobs.get(key)
            prune = bool(job.on_intermediate(fraction, elo)) if job and job.on_intermediate else False
            self.mailbox.answer.remote(key, fraction, prune)

    def _finish(self, ref) -> tuple[TrialSpec, dict]:
        ray = require_ray()
        job = self._pending.pop(ref)
        self._jobs.pop(job.spec.run_id, None)
        try:
            out = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - every failure of a task is a crash row
            return job.spec, lost_row(job.spec, _reason(exc))
        exp_dir = Path(job.spec.exp_dir)
        for rel, data in out["files"].items():
            dest = exp_dir / rel
            if rel == "calibration.json" and dest.exists():
                continue  # the first calibration the driver kept stays
            _write_atomic(dest, data)
        return job.spec, out["row"]

    def wait(self, timeout: float | None = None) -> list[tuple[TrialSpec, dict]]:
        """Finished trials as ``(spec, row)`` (at least one unless ``timeout`` passes first or
        nothing is in flight), answering questions meanwhile."""
        ray = require_ray()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._pending:
            self._pump()
            done, _ = ray.wait(list(self._pending), num_returns=len(self._pending), timeout=POLL_SECONDS)
            if done:
                self._pump()
                return [self._finish(ref) for ref in done]
            if deadline is not None and time.monotonic() >= deadline:
                return []
        return []

    def close(self) -> None:
        """Cancel the trials still running, and close the session if this pool opened it."""
        ray = require_ray()
        for ref in list(self._pending):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - finished or gone already
                pass
        self._pending.clear()
        try:
            ray.kill(self.mailbox)
        except Exception:  # noqa: BLE001
            pass
        self.session.close()

    def __enter__(self) -> RayTrials:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


DEFAULT_CLUSTER = "local"  # where `--backend ray` runs when no Ray session is open


def ray_trial(spec: TrialSpec, on_intermediate: Callable[[float, float], bool] | None = None,
              progress: Callable[[str], None] | None = None, cluster: str | None = None) -> dict:
    """One trial on the cluster (the open Ray session, else ``cluster`` or a local instance):
    the ``ray`` backend of `run_trial`. Its artefacts are written here; returns the row."""
    with RayTrials(cluster or DEFAULT_CLUSTER) as pool:
        pool.submit(spec, on_intermediate, progress)
        while True:
            done = pool.wait()
            if done:
                return done[0][1]


register_backend("ray", ray_trial)

__all__ = ["RayTrials", "TrialMailbox", "lost_row", "ray_trial", "remote_trial"]
