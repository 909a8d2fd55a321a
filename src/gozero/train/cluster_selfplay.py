"""Self-play on a Ray cluster: stateless actors play, the learner is the only writer.

Each `SelfPlayActor` is a Ray actor holding one `SelfPlay` (many games in lockstep, one
batched network call per simulation step, as a local worker). It writes nothing: finished
games collect in memory and go back to the learner in chunks (``play_chunk``: at least
``cluster.chunk_games`` games, or whatever finished within ``cluster.chunk_seconds``). The
learner (this process, `run_on_cluster`) writes each game through the run's `ShardWriter`
-- atomically to ``pending/``, then sealed into shards -- so the run directory has one
writer and the crash-safe path of a local run. Each position carries ``net_version`` (the
shard field: the training step of the weights that played it), and the metrics log the
policy lag (learner step minus ``net_version``) of the positions each generation trained on.

Weights travel once per version: the learner ``ray.put``s the state dict after each
checkpoint, and hands actors the reference inside a list (so Ray does not resolve it per
call); an actor fetches it only when the version changed.

Faults, in the spirit of KataGo's and minigo's stateless workers: an actor that dies (its
process, or its node) loses only the chunk it had not returned; `ActorPool` drops it and
starts a replacement where the cluster has room. An actor silent for longer than
``chunk_seconds + chunk_timeout`` (plus ``startup_timeout`` before its first chunk) is
hung: it is killed and replaced. Every ``poll_seconds`` the pool reads the live nodes and
places actors on nodes that joined (elastic), one per ``actor_cpus`` (less
``learner_cpus`` on the learner's node), each with a share of its node's GPUs when it has
any. A killed learner takes its actors with it (Ray's ownership); ``gozero train --resume
RUN`` starts from the last checkpoint with new actors, every game already written kept.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cluster import ClusterError, ClusterSession, require_ray

IN_FLIGHT = 2  # chunk calls queued per actor: one plays while the learner reads the other


class SelfPlayActor:
    """One self-play process on some node (used as a Ray actor class)."""

    def __init__(self, config: dict, uid: int, seed: int):
        import torch

        from gozero.net.inference import NetEvaluator
        from gozero.net.model import build_model
        from gozero.selfplay.selfplay import SelfPlay

        from .config import RunConfig

        cfg = RunConfig.from_dict(config)
        self.cfg = cfg
        self.uid = uid
        gpus = require_ray().get_gpu_ids()  # Ray sets CUDA_VISIBLE_DEVICES to this actor's share
        wanted = cfg.run.device
        if wanted == "auto" or wanted.startswith("cuda"):
            self.device = "cuda" if gpus and torch.cuda.is_available() else "cpu"
        else:
            self.device = wanted  # e.g. "cpu" on GPU nodes
        torch.set_num_threads(max(1, int(cfg.cluster.actor_cpus)))
        self.model = build_model(cfg.net)
        self.ev = NetEvaluator(self.model, device=self.device, precision=cfg.run.precision, compile=cfg.run.compile,
                               seed=seed)
        rules = cfg.game.rules()
        self.games: list[dict[str, np.ndarray]] = []
        self.sgf_dir = Path(tempfile.mkdtemp(prefix=f"gozero-actor{uid}-"))
        self.sp = SelfPlay(self.ev, cfg.game.size, rules, cfg.search, cfg.selfplay, self, sgf_dir=self.sgf_dir,
                           seed=seed)
        self.version = -1
        self.step = -1
        self._reported = self.sp.stats.as_dict()

    def add_game(self, arrays: dict[str, np.ndarray], size: int) -> None:
        """The writer interface `SelfPlay` writes through: keep the game for the next chunk."""
        self.games.append(arrays)

    def info(self) -> dict:
        ray = require_ray()
        return {"uid": self.uid, "pid": os.getpid(), "host": socket.gethostname(), "device": self.device,
                "node": ray.get_runtime_context().get_node_id(), "gpu_ids": list(ray.get_gpu_ids())}

    def play_chunk(self, version: int, step: int, weights: list, min_games: int, max_seconds: float) -> dict:
        """Play until ``min_games`` games finished or ``max_seconds`` passed; return them.

        ``weights`` is ``[ref]``: the state dict of ``version``, fetched only when new."""
        import torch

        t_fetch = 0.0
        if version != self.version:
            t0 = time.perf_counter()
            state = require_ray().get(weights[0])
            self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
            self.ev.set_model(self.model)
            self.version, self.step = version, step
            self.sp.net_version = step
            t_fetch = time.perf_counter() - t0
        start, cpu0 = time.monotonic(), time.process_time()
        while len(self.games) < min_games and time.monotonic() - start < max_seconds:
            self.sp.step()
        games, self.games = self.games, []
        sgfs = []
        for path in sorted(self.sgf_dir.glob("*.sgf")):
            sgfs.append((path.name, path.read_text()))
            path.unlink()
        now = self.sp.stats.as_dict()
        delta = {k: now[k] - self._reported[k] for k in ("games", "positions", "net_evals", "moves", "seconds",
                                                         "black_wins", "resigned")}
        self._reported = now
        return {"uid": self.uid, "version": self.version, "step": self.step, "games": games, "sgf": sgfs,
                "stats": delta, "mean_length": now["mean_length"], "seconds": time.monotonic() - start,
                "cpu_seconds": time.process_time() - cpu0, "fetch_seconds": t_fetch}

    def __del__(self):
        shutil.rmtree(getattr(self, "sgf_dir", ""), ignore_errors=True)


@dataclass
class _Actor:
    uid: int
    handle: Any
    node: str
    gpus: float
    started: float
    last_heard: float
    chunks: int = 0
    inflight: deque = field(default_factory=deque)


def node_plan(nodes: list[dict], actor_cpus: float, actor_gpus: float, learner_node: str, learner_cpus: float,
              max_actors: int = 0) -> dict[str, tuple[int, float]]:
    """Actors per live node and each one's GPU share: ``{node_id: (actors, gpus_each)}``.

    ``nodes`` as `ray.nodes()` gives them. A node holds ``CPU // actor_cpus`` actors (its
    CPUs less ``learner_cpus`` on the learner's node); on a node with GPUs each actor gets
    ``actor_gpus`` of one (``-1``: the node's GPUs split evenly among its actors).
    ``max_actors`` > 0 caps the total (filled node by node, in the given order)."""
    plan: dict[str, tuple[int, float]] = {}
    left = max_actors if max_actors > 0 else None
    for node in nodes:
        if not node.get("Alive"):
            continue
        res = node.get("Resources", {})
        cpus = float(res.get("CPU", 0.0)) - (learner_cpus if node["NodeID"] == learner_node else 0.0)
        n = int(cpus // actor_cpus + 1e-9) if actor_cpus > 0 else 0
        gpus = float(res.get("GPU", 0.0))
        if gpus > 0 and actor_gpus != 0 and n > 0:
            share = round(min(1.0, gpus / n), 4) if actor_gpus < 0 else actor_gpus
            if actor_gpus > 0:
                n = min(n, int(gpus // actor_gpus + 1e-9))
        else:
            share = 0.0
        if left is not None:
            n = min(n, left)
            left -= n
        if n > 0:
            plan[node["NodeID"]] = (n, share)
    return plan


class ActorPool:
    """The learner's self-play actors: placing, feeding, watching and replacing them."""

    def __init__(self, config: dict, log: Callable[[str], None] = print, seed: int = 0):
        self.ray = require_ray()
        self.config = config
        c = config["cluster"]
        self.actor_cpus = float(c["actor_cpus"])
        self.actor_gpus = float(c["actor_gpus"])
        self.learner_cpus = float(c["learner_cpus"])
        self.chunk_games = int(c["chunk_games"])
        self.chunk_seconds = float(c["chunk_seconds"])
        self.chunk_timeout = float(c["chunk_timeout"])
        self.startup_timeout = float(c["startup_timeout"])
        self.poll_seconds = float(c["poll_seconds"])
        self.max_actors = int(c["actors"])
        self.max_failures = int(c["max_failures"])
        self.log = log
        self.seed = seed
        self.actors: dict[int, _Actor] = {}
        self.placed: list[tuple[int, str]] = []  # (uid, node id) of every actor started
        self.next_uid = 0
        self.failures = 0  # all actor losses of this session
        self.failures_in_row = 0
        self.hung = 0
        self.chunks = 0
        self.version = -1
        self.step = 0
        self._weights: list = []
        self._last_poll = -1e9
        self._suspect: dict[str, float] = {}  # node -> when an actor on it last died
        self.learner_node = self.ray.get_runtime_context().get_node_id()
        self._cls = self.ray.remote(max_restarts=0, max_task_retries=0)(SelfPlayActor)

    # -- weights ------------------------------------------------------------------------------
    def publish(self, version: int, step: int, state_dict: dict) -> None:
        """Put one version of the weights into the object store (once); later calls use it."""
        arrays = {k: v.detach().cpu().numpy() for k, v in state_dict.items()}
        self._weights = [self.ray.put(arrays)]
        self.version, self.step = version, step

    # -- placement ------------------------------------------------------------------------------
    def reconcile(self, force: bool = False) -> None:
        """Every ``poll_seconds``: start actors where live nodes have room, forget actors whose node left."""
        now = time.monotonic()
        if not force and now - self._last_poll < self.poll_seconds:
            return
        self._last_poll = now
        nodes = self.ray.nodes()
        alive = {n["NodeID"] for n in nodes if n.get("Alive")}
        for a in list(self.actors.values()):
            if a.node not in alive:
                self._drop(a, "its node left the cluster")
        plan = node_plan(nodes, self.actor_cpus, self.actor_gpus, self.learner_node, self.learner_cpus,
                         self.max_actors)
        for node_id, (n, gpus) in plan.items():
            if now - self._suspect.get(node_id, -1e9) < max(self.poll_seconds, 5.0):
                continue  # an actor just died there: give the cluster time to tell whether the node did
            have = sum(1 for a in self.actors.values() if a.node == node_id)
            for _ in range(n - have):
                self._start(node_id, gpus)

    def _start(self, node_id: str, gpus: float) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        uid = self.next_uid
        self.next_uid += 1
        seed = (self.seed * 1_000_003 + uid * 7919 + self.step * 31 + int(time.time() * 1000)) % (2**31)
        handle = self._cls.options(num_cpus=self.actor_cpus, num_gpus=gpus,
                                   scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)
                                   ).remote(self.config, uid, seed)
        now = time.monotonic()
        actor = _Actor(uid, handle, node_id, gpus, now, now)
        self.actors[uid] = actor
        self.placed.append((uid, node_id))
        for _ in range(IN_FLIGHT):
            self._submit(actor)

    def _submit(self, actor: _Actor) -> None:
        ref = actor.handle.play_chunk.remote(self.version, self.step, self._weights, self.chunk_games,
                                             self.chunk_seconds)
        actor.inflight.append(ref)

    def _drop(self, actor: _Actor, why: str) -> None:
        self.actors.pop(actor.uid, None)
        self._suspect[actor.node] = time.monotonic()
        self.failures += 1
        self.failures_in_row += 1
        self.log(f"self-play actor {actor.uid} lost ({why}); its unreturned chunk is dropped, a replacement follows")
        try:
            self.ray.kill(actor.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - already dead
            pass
        if self.max_failures and self.failures_in_row >= self.max_failures:
            raise ClusterError(f"{self.failures_in_row} self-play actors failed in a row without a chunk; "
                               "see the Ray logs (/tmp/ray/session_latest/logs on the nodes)")
        self._last_poll = -1e9  # look for room for a replacement at once

    # -- chunks ------------------------------------------------------------------------------------
    def collect(self, timeout: float = 1.0) -> list[dict]:
        """Chunks that finished within ``timeout`` seconds (each actor is fed again at once)."""
        self.reconcile()
        heads = {a.inflight[0]: a for a in self.actors.values() if a.inflight}
        out = []
        if heads:
            ready, _ = self.ray.wait(list(heads), num_returns=len(heads), timeout=timeout)
            for ref in ready:
                actor = heads[ref]
                if actor.uid not in self.actors:
                    continue
                try:
                    chunk = self.ray.get(ref)
                except self.ray.exceptions.RayError as exc:  # died, node lost, or a failing chunk
                    first = str(exc).strip().splitlines()[:1]
                    self._drop(actor, f"{type(exc).__name__}: {first[0][:200] if first else ''}")
                    continue
                actor.inflight.popleft()
                actor.last_heard = time.monotonic()
                actor.chunks += 1
                self.chunks += 1
                self.failures_in_row = 0
                self._submit(actor)
                out.append(chunk)
        else:
            time.sleep(min(timeout, 0.2))
        now = time.monotonic()
        for actor in list(self.actors.values()):
            allowed = self.chunk_seconds + self.chunk_timeout + (0 if actor.chunks else self.startup_timeout)
            if now - actor.last_heard > allowed:
                self.hung += 1
                self._drop(actor, f"hung: no chunk for {now - actor.last_heard:.0f} s")
        return out

    def describe(self) -> list[dict]:
        """Each actor's uid, pid, host and device (asks every actor; for logs and tests)."""
        refs = {a.uid: a.handle.info.remote() for a in self.actors.values()}
        out = []
        for uid, ref in refs.items():
            try:
                out.append(self.ray.get(ref, timeout=60))
            except Exception:  # noqa: BLE001 - dying actor
                out.append({"uid": uid, "pid": None})
        return out

    def shutdown(self) -> None:
        for a in self.actors.values():
            try:
                self.ray.kill(a.handle, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self.actors = {}


def run_on_cluster(run, on_generation: Callable[[dict], None] | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   on_pool: Callable[[ActorPool], None] | None = None) -> None:
    """`TrainingRun.run` with self-play on the Ray cluster ``run.cfg.cluster.address``.

    The learner trains whenever ``run.generation_positions`` new positions have been written,
    checkpoints, and publishes the new weights. ``on_pool`` sees the pool once it exists
    (tests use it to find the actors)."""
    from gozero.selfplay.shards import ShardWriter

    cfg = run.cfg
    c = cfg.cluster
    if cfg.run.gating:
        run.log("gating is not used with --cluster: self-play always plays the newest network")
    session = ClusterSession(c.address, num_cpus=c.local_cpus or None)
    pool = None
    try:
        writer = ShardWriter(run.dir, cfg.run.shard_positions)
        window = run._window()
        window.refresh(run.positions)
        rules = cfg.game.rules()
        pool = ActorPool(cfg.to_dict(), log=run.log, seed=cfg.run.seed)
        pool.publish(run.generation, run.trainer.step, run.model.state_dict())
        pool.reconcile(force=True)
        if not pool.actors:
            raise ClusterError(f"the cluster has no room for a self-play actor ({c.actor_cpus:g} CPUs each, "
                               f"{c.learner_cpus:g} kept for the learner)")
        run.log(f"self-play on Ray cluster {c.address!r}: {len(pool.actors)} actors")
        if on_pool is not None:
            on_pool(pool)
        start_seconds = run.seconds
        t_start = time.monotonic()
        sgf_dir = run.dir / "sgf"
        while run._budget_left(should_stop):
            t0 = time.monotonic()
            new_games = new_pos = 0
            totals = {"net_evals": 0, "moves": 0, "black_wins": 0, "resigned": 0}
            lags: list[int] = []
            lengths: list[float] = []
            chunks0, fetch = pool.chunks, 0.0
            while new_pos < cfg.run.generation_positions:
                for chunk in pool.collect(timeout=1.0):
                    for g in chunk["games"]:
                        writer.add_game(g, cfg.game.size)
                        n = int(len(g["policy_weight"]))
                        new_pos += n
                        lags.extend((run.trainer.step - g["net_version"]).tolist())
                    new_games += len(chunk["games"])
                    for k in totals:
                        totals[k] += chunk["stats"][k]
                    lengths.append(chunk["mean_length"])
                    fetch += chunk["fetch_seconds"]
                    for name, text in chunk["sgf"]:
                        sgf_dir.mkdir(parents=True, exist_ok=True)
                        (sgf_dir / f"a{chunk['uid']:03d}_{name}").write_text(text)
                run.seconds = start_seconds + (time.monotonic() - t_start)
                if not run._budget_left(should_stop):
                    return
            t1 = time.monotonic()
            run.games += new_games
            run.positions += new_pos
            n_window = window.refresh(run.positions)
            steps, losses, signals, t2, snap = run._learn(window, rules, new_pos, t0, t1, start_seconds, t_start)
            run._maybe_evaluate(snap)
            pool.publish(run.generation, run.trainer.step, run.model.state_dict())
            dt = max(t1 - t0, 1e-9)
            row = run._generation_row(
                n_window, steps, losses, signals, t2 - t1,
                selfplay_games_per_s=new_games / dt, selfplay_positions_per_s=new_pos / dt,
                net_evals_per_s=totals["net_evals"] / dt,
                mean_game_length=float(np.mean(lengths)) if lengths else 0.0,
                black_win_rate=totals["black_wins"] / max(new_games, 1),
                actors=len(pool.actors), chunks=pool.chunks - chunks0, actor_failures=pool.failures,
                actors_hung=pool.hung, weight_fetch_seconds=fetch,
                policy_lag_steps_mean=float(np.mean(lags)) if lags else 0.0,
                policy_lag_steps_max=int(max(lags)) if lags else 0)
            run._end_generation(row, on_generation)
    finally:
        if pool is not None:
            pool.shutdown()
        session.close()


def cluster_available() -> bool:
    """Whether Ray is importable (for tests and help texts)."""
    try:
        require_ray()
    except ClusterError:
        return False
    return True


__all__ = ["ActorPool", "SelfPlayActor", "cluster_available", "node_plan", "run_on_cluster"]
