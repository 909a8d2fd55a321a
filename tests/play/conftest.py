"""Test doubles and a live server for the web page's tests (API, load and browser).

`DoubleAnalysisPlayer` is a deterministic stand-in for the network + search player: it
plays the legal non-eye-filling move with the highest made-up prior (passing when none is
left) and answers ``analyze`` with priors, candidates and ownership built from the legal
moves, so the page's analysis can be tested without a model.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from gozero.rules import Game
from gozero.rules import kernels as K
from gozero.search.player import Analysis, MoveInfo, SearchLimits


class DoubleAnalysisPlayer:
    """Deterministic `AnalysisPlayer`: fixed priors over legal non-eye moves; ownership from area scoring.

    ``ownership`` may replace the ownership estimate: a function of the game giving an (NN,)
    array for the side to move. ``delay`` seconds are slept in each genmove (to make
    concurrency matter in the load test).
    """

    def __init__(self, ownership: Callable[[Game], np.ndarray] | None = None, delay: float = 0.0):
        self.name = "double"
        self.ownership = ownership
        self.delay = delay
        self.calls: list[tuple[str, int | None]] = []
        self.seen: list[tuple[SearchLimits | None, float | None]] = []  # (limits, temperature) of each genmove

    def _priors(self, game: Game) -> np.ndarray:
        pos, geo = game.position, game.position.geo
        nn = geo.nn
        mask = game.legal_mask()
        weights = np.zeros(nn + 1)
        for p in np.flatnonzero(mask[:nn]):
            if not K.is_eyelike(pos.ints, geo.nbr, geo.diag, int(p), pos.to_move):
                weights[p] = 1.0 + (int(p) * 7919 + game.position.move_count * 31) % nn
        weights[nn] = 0.5
        return weights / weights.sum()

    def genmove(self, game: Game, limits: SearchLimits | None = None, temperature: float | None = None) -> int:
        self.calls.append(("genmove", limits.visits if limits is not None else None))
        self.seen.append((limits, temperature))
        if self.delay:
            time.sleep(self.delay)
        priors = self._priors(game)
        best = int(np.argmax(priors[:-1]))
        return best if priors[best] > 0 else game.pass_move

    def analyze(self, game: Game, limits: SearchLimits | None = None, on_update=None, stop=None,
                interval: float = 1.0) -> Analysis:
        visits = limits.visits if limits is not None else None
        self.calls.append(("analyze", visits))
        priors = self._priors(game)
        nn = game.position.geo.nn
        order = [int(m) for m in np.argsort(-priors) if priors[m] > 0][:5]
        total = visits or 10
        moves = []
        for rank, m in enumerate(order):
            moves.append(MoveInfo(move=m, visits=max(1, total // (rank + 2)), winrate=0.6 - 0.05 * rank,
                                  prior=float(priors[m]), score_lead=2.0 - rank, pv=[m]))
        if self.ownership is not None:
            own = np.asarray(self.ownership(game), float)
        else:
            _, owner = game.position.score(game.rules.komi)
            me = game.to_move
            own = np.where(owner == me, 0.8, np.where(owner == 0, 0.0, -0.8))
        assert own.shape == (nn,)
        return Analysis(moves=moves, policy=priors, winrate=0.55, score_lead=1.5, ownership=own, visits=total)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a thread."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable]:
    """Start a server with a given player; stops it at the end of the test."""
    servers: list[LiveServer] = []

    def start(player, db_path: Path | None = None) -> LiveServer:
        from gozero.play.web.server import create_app

        app = create_app(player=player, db_path=db_path or tmp_path / "web.sqlite")
        srv = LiveServer(app).__enter__()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.__exit__()
