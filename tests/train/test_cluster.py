"""Self-play, matches and tasks on a Ray cluster on this machine (2 CPUs, bound to 127.0.0.1,
dashboard off, token authentication on): two generations on the tiny preset, an actor killed
and another hung mid-run, a node removed and one joining, the learner SIGKILLed and
resumed, shards read exactly like those of a process run, and the clear error without Ray."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gozero.selfplay.shards import FIELDS, load_arrays, pending_paths, shard_paths
from gozero.train.cluster import INSTALL_HINT, ClusterError, ClusterSession, require_ray, run_tasks
from gozero.train.cluster_selfplay import node_plan
from gozero.train.config import load_config
from gozero.train.loop import TrainingRun

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install 'gozero[ray]')")
SRC = str(Path(__file__).resolve().parents[2] / "src")
FAST = ["run.games_per_generation=8", "selfplay.parallel_games=8", "selfplay.full_simulations=4",
        "selfplay.cheap_simulations=2", "train.batch_size=32", "train.min_steps_per_generation=4",
        "run.shard_positions=48", "run.torch_threads=1", 'run.device="cpu"', "selfplay.sgf_every=4",
        "run.generation_positions=40", "cluster.chunk_games=2", "cluster.chunk_seconds=3", "cluster.learner_cpus=0",
        "cluster.poll_seconds=1"]


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _game_files(run_dir: Path) -> list[Path]:
    """The run's shards and the pending games no shard holds yet: a kill between sealing a
    shard and deleting its pending files leaves both on disk (the shard lists the pending
    files it took, and the writer drops them on resume), so such a game counts once."""
    shards, sealed = shard_paths(run_dir), set()
    for p in shards:
        try:
            with np.load(p) as z:
                sealed |= set(z["sources"].tolist()) if "sources" in z.files else set()
        except (OSError, ValueError, KeyError):
            continue
    return shards + [p for p in pending_paths(run_dir) if p.name not in sealed]


def _all_games_readable(run_dir: Path) -> int:
    """Every shard and pending game opens with all fields of equal length; their positions."""
    total = 0
    for p in _game_files(run_dir):
        a = load_arrays(p)
        n = len(a["policy_weight"])
        assert all(len(a[k]) == n for k in FIELDS), p
        total += n
    return total


def _positions_on_disk(run_dir: Path) -> int:
    """Positions in shards and pending games of a live run (files sealed meanwhile skipped)."""
    total = 0
    for p in _game_files(run_dir):
        try:
            with np.load(p) as z:
                total += len(z["policy_weight"])
        except (OSError, ValueError, KeyError):
            continue
    return total


def _listening_hosts(port: int) -> set[str]:
    """Addresses that listen on TCP ``port`` on this machine (from /proc/net/tcp and tcp6)."""
    hosts = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state != "0A" or int(hexport, 16) != port:
                continue
            if len(addr) == 8:
                raw = bytes.fromhex(addr)[::-1]
            elif addr.startswith("0000000000000000FFFF0000"):  # IPv4 mapped into IPv6
                raw = bytes.fromhex(addr[24:])[::-1]
            elif set(addr) == {"0"}:
                hosts.add("*")
                continue
            else:
                hosts.add(addr)
                continue
            hosts.add(".".join(str(b) for b in raw))
    return hosts


def test_without_ray_the_error_names_the_extra(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from gozero.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    with pytest.raises(ClusterError, match=INSTALL_HINT.replace("[", r"\[")):
        require_ray()
    r = CliRunner().invoke(app, ["train", "--preset", "tiny", "--cluster", "local", "--run-dir", str(tmp_path / "r")])
    assert r.exit_code == 2 and "gozero[ray]" in r.output
    assert not (tmp_path / "r").exists()  # nothing written
    r = CliRunner().invoke(app, ["train", "--preset", "tiny", "--cluster", "nowhere", "--run-dir", str(tmp_path)])
    assert r.exit_code == 2 and "HOST:PORT" in r.output


def test_node_plan_places_actors_by_cpus_and_shares_gpus():
    nodes = [{"NodeID": "head", "Alive": True, "Resources": {"CPU": 16.0, "GPU": 1.0}},
             {"NodeID": "cpu", "Alive": True, "Resources": {"CPU": 8.0}},
             {"NodeID": "gone", "Alive": False, "Resources": {"CPU": 64.0}},
             {"NodeID": "gpus", "Alive": True, "Resources": {"CPU": 6.0, "GPU": 2.0}}]
    plan = node_plan(nodes, actor_cpus=1, actor_gpus=-1, learner_node="head", learner_cpus=2)
    assert plan == {"head": (14, round(1 / 14, 4)), "cpu": (8, 0.0), "gpus": (6, round(2 / 6, 4))}
    plan = node_plan(nodes, actor_cpus=2, actor_gpus=0.5, learner_node="head", learner_cpus=0, max_actors=10)
    assert plan == {"head": (2, 0.5), "cpu": (4, 0.0), "gpus": (3, 0.5)}  # GPU-bound on head, capped at 10
    assert node_plan(nodes, 1, 0, "head", 16) == {"cpu": (8, 0.0), "gpus": (6, 0.0)}


def _compare_with_a_process_run(ray_dir: Path, proc_dir: Path) -> None:
    """The shards of a Ray run and of a process run have the same arrays, dtypes and shapes
    and the replay window samples them alike."""
    from gozero.train.replay import ReplayWindow

    pcfg = load_config(preset="tiny", overrides=FAST + ["run.max_generations=1"])
    TrainingRun.create(proc_dir, pcfg, log=lambda s: None).run()
    a = load_arrays(shard_paths(ray_dir)[0])
    b = load_arrays(shard_paths(proc_dir)[0])
    assert set(a) == set(b)
    for k in b:
        assert a[k].dtype == b[k].dtype and a[k].shape[1:] == b[k].shape[1:], k
    wa = ReplayWindow(ray_dir, 5, 1000, 2000, seed=1)
    wb = ReplayWindow(proc_dir, 5, 1000, 2000, seed=1)
    assert wa.refresh() > 0 and wb.refresh() > 0
    sa, sb = wa.sample(16), wb.sample(16)
    assert {k: (v.dtype, v.shape) for k, v in sa.items()} == {k: (v.dtype, v.shape) for k, v in sb.items()}


@pytest.fixture(scope="class")
def local_ray():
    """One local Ray instance for the class, started the way `--cluster local` starts it."""
    os.environ["PYTHONPATH"] = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])
    session = ClusterSession("local", num_cpus=2)
    yield session
    session.close()


@needs_ray
@pytest.mark.slow
class TestLocalCluster:
    def test_the_instance_is_private(self, local_ray):
        ray = require_ray()
        assert local_ray.owned and os.environ["RAY_AUTH_MODE"] == "token"
        nodes = ray.nodes()
        assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
        assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
        node = nodes[0]
        ports = [int(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1]), node["NodeManagerPort"],
                 node["ObjectManagerPort"]]
        for port in ports:
            hosts = _listening_hosts(port)
            assert hosts and hosts <= {"127.0.0.1"}, (port, hosts)
        assert local_ray.dashboard_url is None and not _listening_hosts(8265)  # no dashboard

    def test_run_tasks_yields_every_result_once(self, local_ray):
        def _square(x: int) -> int:  # defined here: pickled by value for the workers
            if x == 3:
                raise ValueError("three")
            return x * x

        got = dict(run_tasks(_square, [0, 1, 2, 3, 4], cluster="local", return_errors=True))
        assert {k: v for k, v in got.items() if k != 3} == {0: 0, 1: 1, 2: 4, 4: 16}
        assert isinstance(got[3], ValueError) and "three" in str(got[3])
        assert dict(run_tasks(_square, [5, 6], cluster=None)) == {0: 25, 1: 36}
        with pytest.raises(ValueError, match="three"):
            list(run_tasks(_square, [3, 1], cluster="local"))
        assert local_ray.owned  # the tasks reused this session and left it open

    def test_two_generations_then_an_actor_killed_and_one_hung(self, local_ray, tmp_path):
        cfg = load_config(preset="tiny", overrides=FAST + ["run.max_generations=2", 'cluster.address="local"',
                                                           "cluster.actors=2"])
        run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
        rows = []
        run.run(on_generation=rows.append)
        assert [r["generation"] for r in rows] == [1, 2] and run.generation == 2
        assert all(r["actors"] == 2 and r["actor_failures"] == 0 for r in rows)
        assert rows[0]["policy_lag_steps_mean"] == 0 and rows[1]["policy_lag_steps_max"] <= rows[0]["step"]
        assert _all_games_readable(tmp_path) == run.positions >= 80
        steps = np.concatenate([load_arrays(p)["net_version"] for p in shard_paths(tmp_path) + pending_paths(tmp_path)])
        assert set(np.unique(steps)) <= {0, rows[0]["step"]}
        assert list((tmp_path / "sgf").glob("a*_game_*.sgf"))
        assert [r["generation"] for r in _metrics(tmp_path)] == [1, 2]
        _compare_with_a_process_run(tmp_path, tmp_path / "proc")

        # the same run goes on: one actor SIGKILLed, another stopped (hung) after generation 3
        from gozero.train.cluster_selfplay import run_on_cluster

        # no generation cap: a fast machine plays dozens of generations on the one healthy actor
        # before the hung one's timeout; a wall-clock deadline bounds the test instead
        run.cfg.run.max_generations = 1_000_000
        run.cfg.cluster.chunk_timeout = 4.0
        run.cfg.cluster.startup_timeout = 60.0
        pools, more = [], []

        def strike(row):
            more.append(row)
            if row["generation"] == 3:
                pids = [a["pid"] for a in pools[0].describe()]
                os.kill(pids[0], signal.SIGKILL)
                os.kill(pids[1], signal.SIGSTOP)

        def recovered() -> bool:  # both losses seen, both replaced, and a generation trained since
            p = pools[0] if pools else None
            return bool(p and more and p.failures >= 2 and p.hung >= 1 and more[-1]["actors_hung"] >= 1
                        and more[-1]["actors"] == 2 and more[-1]["generation"] >= 4)

        deadline = time.monotonic() + 240.0
        run_on_cluster(run, on_generation=strike, should_stop=lambda: recovered() or time.monotonic() > deadline,
                       on_pool=pools.append)
        pool = pools[0]
        assert recovered(), (f"the killed and the hung actor were not both replaced within 240 s: "
                             f"failures {pool.failures}, hung {pool.hung}, last row {more[-1] if more else None}")
        assert [r["generation"] for r in more] == list(range(3, run.generation + 1))
        assert pool.next_uid >= 4  # both were replaced
        assert _all_games_readable(tmp_path) == run.positions
        assert all(r["train_steps"] >= 4 for r in more)

    def test_match_games_on_the_cluster_recorded_here(self, local_ray, tmp_path):
        from gozero.eval.match import MatchSettings, run_match
        from gozero.eval.results_db import ResultsDB

        settings = MatchSettings(size=5, komi=0.5, check_score=False, scoring="tromp-taylor")
        with ResultsDB(tmp_path / "r.db") as db:
            res = run_match("random", "random", 4, settings, db, tmp_path / "sgf", parallel=0, cluster="local")
            assert res.played_now == 4 and len(res.games) == 4
            assert all(g["status"] in ("scored", "resign", "move_cap") for g in res.games)
            sgfs = sorted((tmp_path / "sgf").rglob("game_*.sgf"))
            assert len(sgfs) == 4 and all(p.read_text().startswith("(;") for p in sgfs)
            again = run_match("random", "random", 4, settings, db, tmp_path / "sgf", cluster="local", parallel=0)
            assert again.played_now == 0
        from typer.testing import CliRunner

        from gozero.cli import app

        r = CliRunner().invoke(app, ["ladder", "random", "gnugo:0", "-n", "2", "--size", "5", "--komi", "0.5",
                                     "--scoring", "tromp-taylor", "--db", str(tmp_path / "l.db"), "--cluster", "local"])
        if r.exit_code == 2 and "GNU Go" in r.output:
            pytest.skip("GNU Go is not installed")
        assert r.exit_code == 0, r.output
        with ResultsDB(tmp_path / "l.db") as db:
            assert len(db.games(5)) == 2
        assert require_ray().is_initialized()  # the command reused the open session

    def test_a_checkpoint_missing_on_a_node_comes_through_the_object_store(self, local_ray, tmp_path,
                                                                          monkeypatch):
        from gozero.eval.cluster_games import ClusterGames, _localize
        from gozero.eval.engines import parse_spec
        from gozero.eval.match import MatchSettings

        ckpt = tmp_path / "net.pt"
        ckpt.write_bytes(b"weights " * 100)
        spec = parse_spec(f"gozero:{ckpt}@8")
        games = ClusterGames("local", [spec], MatchSettings(size=5), False, "", tmp_path / "sgf")
        ckpt.unlink()  # as on a node without the driver's files
        monkeypatch.setenv("GOZERO_CLUSTER_CACHE", str(tmp_path / "cache"))
        local = _localize(spec, games.files)
        path = local.params["checkpoint"]
        assert path.startswith(str(tmp_path / "cache")) and Path(path).read_bytes() == b"weights " * 100
        assert path in local.argv and str(ckpt) not in local.argv and local.spec == spec.spec


    def test_learner_sigkilled_then_resumed(self, local_ray, tmp_path):
        env = {**os.environ, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
        d = tmp_path / "run"
        sets = [x for s in FAST + ["run.max_generations=100", "cluster.actors=1", "cluster.local_cpus=2"]
                for x in ("--set", s)]
        cmd = [sys.executable, "-m", "gozero.cli", "train", "--preset", "tiny", "--run-dir", str(d),
               "--cluster", "local"]
        proc = subprocess.Popen(cmd + sets, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        import torch

        def games_after_the_checkpoint() -> bool:  # read with the learner (the run's only writer) stopped
            latest = d / "checkpoints" / "latest.pt"
            if not _metrics(d) or not latest.is_file():
                return False
            os.killpg(proc.pid, signal.SIGSTOP)
            if _positions_on_disk(d) >= torch.load(latest, weights_only=False)["positions"] + 10:
                return True  # killed while stopped: nothing is written between this look and the kill
            os.killpg(proc.pid, signal.SIGCONT)
            return False

        try:
            deadline = time.monotonic() + 150
            while not games_after_the_checkpoint():
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "no generation finished in time"
                time.sleep(0.2)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        positions_at_kill = _all_games_readable(d)
        ck = torch.load(d / "checkpoints" / "latest.pt", weights_only=False)
        gen0, step0 = ck["generation"], ck["step"]
        assert gen0 >= 1 and positions_at_kill > ck["positions"]  # games written after the checkpoint are kept
        logs = []  # resumed here, on the class's Ray instance (the CLI's --resume makes the same call)
        run = TrainingRun.resume(d, log=logs.append, overrides=[f"run.max_generations={gen0 + 1}"])
        assert run.cfg.cluster.address == "local"
        assert logs[0].startswith(f"resumed {d} at generation {gen0}, step {step0},")
        run.run()
        rows = _metrics(d)
        assert rows[-1]["generation"] == gen0 + 1 and rows[-1]["step"] > step0 and rows[-1]["actors"] == 1
        assert _all_games_readable(d) > positions_at_kill  # nothing lost, new games added


@needs_ray
@pytest.mark.slow
def test_a_node_removed_and_one_joining(tmp_path):
    """Three nodes (head without CPUs for actors); one dies mid-run, one joins: actors move."""
    from ray.cluster_utils import Cluster

    from gozero.train.cluster import _loopback_only, _token_mode

    ray = require_ray()
    os.environ["PYTHONPATH"] = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])
    _loopback_only()
    os.environ.setdefault("RAY_AUTH_TOKEN", "gozero-test-" + os.urandom(16).hex())
    _token_mode()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        first = cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1, num_gpus=1)  # a "GPU" node: its actor gets a GPU share
        ray.init(address=cluster.address)
        cfg = load_config(preset="tiny", overrides=FAST + ["run.max_generations=30",
                                                           f'cluster.address="{cluster.address}"'])
        run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
        pools, rows, joined = [], [], []

        def churn(row):
            rows.append(row)
            if row["generation"] == 1:
                assert {a.gpus for a in pools[0].actors.values()} == {0.0, 1.0}
                cluster.remove_node(first, allow_graceful=False)
                joined.append(cluster.add_node(num_cpus=1))

        from gozero.train.cluster_selfplay import run_on_cluster

        def settled() -> bool:  # the loss seen and an actor placed on the new node, a generation later
            p = pools[0] if pools else None
            return bool(p and joined and p.failures and joined[0].node_id in {n for _, n in p.placed}
                        and rows[-1]["generation"] >= 3 and rows[-1]["actors"] == 2)

        run_on_cluster(run, on_generation=churn, should_stop=settled, on_pool=pools.append)
        pool = pools[0]
        assert settled() and run.generation < 30, "the pool never replaced the lost node's actor"
        assert [r["generation"] for r in rows] == list(range(1, run.generation + 1))
        assert pool.next_uid >= 3
        assert _all_games_readable(tmp_path) == run.positions
    finally:
        ray.shutdown()
        cluster.shutdown()


