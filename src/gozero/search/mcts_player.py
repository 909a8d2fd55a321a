"""The network + search player behind `gozero gtp --model`, the web page and matches.

It runs a one-game `BatchedSearch` (PUCT with virtual loss, so each network call still
evaluates several leaves), keeps the tree between moves when the game continues along it,
resigns when the search is sure it has lost, values games ended by two passes by the
game's own scoring rule (``game.rules.scoring``), and reports analyses for GTP, the web page
and the analysis engine: candidate moves with visits, priors, principal variations, and the
win rate, score lead, score standard deviation and win-rate LCB of each move's own subtree;
the search's mean score lead and the network's ownership at the root.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gozero.net.features import encode_game
from gozero.net.inference import NetEvaluator, load_checkpoint_model
from gozero.rules import Game

from . import tree as T
from .mcts import BatchedSearch, SearchConfig, node_bytes
from .player import DEFAULT_VISITS, RESIGN, Analysis, MoveInfo, SearchLimits

OPEN_ENDED_BYTES = 512 * 2**20  # tree memory of a time- or stop-bounded search
OPEN_ENDED_MAX_NODES = 2**18


class MCTSPlayer:
    """Plays with a network and tree search. ``visits``/``seconds`` are the default
    `SearchLimits` of a move; `genmove` and `analyze` take their own limits as an argument."""

    def __init__(self, evaluator: NetEvaluator, visits: int | None = None, seconds: float | None = None,
                 temperature: float = 0.0, seed: int | None = None, resign_threshold: float = -0.95,
                 config: SearchConfig | None = None, name: str = "gozero", resign_consecutive: int = 3):
        self.ev = evaluator
        self.limits = SearchLimits(visits=visits if visits is not None else (None if seconds else DEFAULT_VISITS),
                                   seconds=seconds)
        self.temperature = temperature
        self.resign_threshold = resign_threshold
        self.resign_consecutive = resign_consecutive
        self._low = 0  # own consecutive moves with a hopeless search value
        self._last_length = -1
        self.name = name
        if config is None:
            raise TypeError("MCTSPlayer needs its SearchConfig from the caller "
                            "(gozero.play.players.load_search_config gives the play settings)")
        self.config = config
        self.rng = np.random.default_rng(seed)
        self._search: BatchedSearch | None = None
        self._key: tuple | None = None  # (size, setup, moves) the tree's root stands for; the search
        # itself is kept only for one (size, komi, suicide, scoring): a change of rules starts a new one
        self._lock = threading.RLock()  # re-entrant: an analyze callback may ask for ownership_after

    @classmethod
    def from_checkpoint(cls, path: str | Path, visits: int | None = None, seconds: float | None = None,
                        temperature: float = 0.0, seed: int | None = None, device: str = "auto",
                        config: SearchConfig | None = None, compile: bool | str = False) -> MCTSPlayer:
        """The player of a checkpoint. ``compile`` defaults to False: a player evaluates a
        few leaves per call and its first move must not wait for a compiled build (tens of
        seconds even from a warm cache); self-play compiles where it pays (run.compile)."""
        model, meta = load_checkpoint_model(path, device="cpu")
        ev = NetEvaluator(model, device=device, random_symmetry=True, seed=seed, compile=compile)
        step = meta.get("step")
        name = f"gozero-{Path(path).stem}" + (f"-step{step}" if step is not None else "")
        return cls(ev, visits=visits, seconds=seconds, temperature=temperature, seed=seed, name=name, config=config)

    # -- search plumbing ------------------------------------------------------------------
    def _ensure_search(self, game: Game, nodes: int) -> BatchedSearch:
        """The one-game search for this game's rules, with room for at least ``nodes``
        nodes (a bigger tree is kept; a smaller one is replaced, losing the reused tree)."""
        s = self._search
        if s is None or s.size != game.size or s.komi != float(game.rules.komi) \
                or s.allow_suicide != game.rules.suicide or s.scoring != game.rules.scoring or s.M < nodes:
            s = BatchedSearch(self.ev, game.size, 1, self.config, komi=game.rules.komi,
                              allow_suicide=game.rules.suicide, max_nodes=max(nodes, self._max_nodes()),
                              seed=int(self.rng.integers(2**31)), scoring=game.rules.scoring)
            self._search = s
            self._key = None
        return s

    def _max_nodes(self) -> int:
        budget = self.limits.visits or 2000
        return max(4 * budget + 64, 1024)

    @staticmethod
    def open_ended_nodes(size: int) -> int:
        """Tree size for a search bounded by time or a stop signal (GTP analysis, --time):
        as many nodes as fit in about ``OPEN_ENDED_BYTES`` at this board size (`node_bytes`,
        measured on the tree's own arrays; 9x9: about 114,000, 19x19: about 16,700), so
        analysis goes on growing well past any visits setting."""
        return int(min(OPEN_ENDED_MAX_NODES, max(8192, OPEN_ENDED_BYTES // node_bytes(size))))

    def _prepare(self, game: Game, target: int | None) -> BatchedSearch:
        nodes = target + 64 + 4 * self.config.leaves_per_game if target is not None \
            else self.open_ended_nodes(game.size)
        s = self._ensure_search(game, nodes)
        key_now = (game.size, tuple(game.setup), tuple(game.moves))
        old = self._key
        if old == key_now and s.tree.state[0, 0] == T.EXPANDED:
            return s  # the same position: search on in the same tree
        played: list[int] = []
        if old is not None and key_now[:2] == old[:2] and len(key_now[2]) > len(old[2]) \
                and key_now[2][: len(old[2])] == old[2]:
            played = [mv for _, mv in key_now[2][len(old[2]):]]  # the moves since the last search
        s.set_root_from_game(0, game, played)
        self._key = key_now
        return s

    def _search_root(self, game: Game, visits: int | None, seconds: float | None,
                     on_update: Callable[[Analysis], None] | None, interval: float,
                     stop: threading.Event | None) -> BatchedSearch:
        target = visits if visits is not None else (None if seconds else DEFAULT_VISITS)
        s = self._prepare(game, target if stop is None else None)
        start = time.monotonic()
        last_report = start
        chunk = max(1, self.config.leaves_per_game)
        done = int(s.tree.nsa[0, 0].sum())
        while True:
            if stop is not None and stop.is_set():
                break
            now = time.monotonic()
            if target is not None and done >= target:
                break
            if seconds is not None and now - start >= seconds:
                break
            if target is None and seconds is None and stop is None:
                break
            if s.tree.count[0] >= s.M - chunk - 1:
                break
            step = chunk if target is None else min(chunk * 4, max(1, target - done))
            s.run(simulations=step)
            done = int(s.tree.nsa[0, 0].sum())
            if on_update is not None and time.monotonic() - last_report >= interval:
                last_report = time.monotonic()
                on_update(self._analysis(s, game))
        return s

    def _analysis(self, s: BatchedSearch, game: Game) -> Analysis:
        r = s.root_result(0.0)
        visits = r.visits[0]
        order = np.argsort(-visits, kind="stable")
        moves = []
        for a in order:
            if visits[a] <= 0:
                break
            moves.append(MoveInfo(move=int(a), visits=int(visits[a]), winrate=float((r.q[0, a] + 1) / 2),
                                  prior=float(r.raw_prior[0, a]), score_lead=float(r.move_score[0, a]),
                                  pv=s.principal_variation(0, int(a)), score_stdev=float(r.move_score_stdev[0, a]),
                                  lcb=float(r.move_lcb[0, a])))
        return Analysis(moves=moves, policy=r.raw_prior[0].copy(), winrate=float((r.root_q[0] + 1) / 2),
                        score_lead=float(r.root_score[0]), ownership=r.ownership[0].copy(), visits=int(visits.sum()))

    def ownership_after(self, game: Game, moves: list[int]) -> np.ndarray:
        """(len(moves), NN) the network's ownership after each of ``moves`` (+ for the side to
        move at ``game``), from one batched evaluation of the child positions."""
        children = []
        for move in moves:
            child = game.copy()
            child.play(int(move))
            children.append(encode_game(child))
        if not children:
            return np.zeros((0, game.size * game.size), np.float32)
        with self._lock:
            out = self.ev.evaluate(np.stack([c[0] for c in children]), np.stack([c[1] for c in children]),
                                   size=game.size)
        return -np.asarray(out.ownership, np.float32)  # each child's side to move is the opponent

    def clear_cache(self) -> None:
        """Forget the kept search tree: the next search starts from a fresh root."""
        with self._lock:
            self._search = None
            self._key = None

    # -- the Player interface -------------------------------------------------------------
    def analyze(self, game: Game, limits: SearchLimits | None = None,
                on_update: Callable[[Analysis], None] | None = None, stop: threading.Event | None = None,
                interval: float = 1.0) -> Analysis:
        """Search the position within ``limits``; unbounded limits search until ``stop``
        (without a ``stop``, the player's default limits apply)."""
        limits = limits or SearchLimits()
        if not limits.bounded and stop is None:
            limits = self.limits
        with self._lock:
            s = self._search_root(game, limits.visits, limits.seconds, on_update, interval, stop)
            return self._analysis(s, game)

    def genmove(self, game: Game, limits: SearchLimits | None = None, temperature: float | None = None) -> int:
        """The move to play (flat index, NN = pass, or RESIGN) within ``limits`` (default:
        the player's own), chosen at ``temperature`` (default: the player's own)."""
        limits = limits if limits is not None and limits.bounded else self.limits
        temperature = self.temperature if temperature is None else temperature
        with self._lock:
            s = self._search_root(game, limits.visits, limits.seconds, None, 1.0, None)
            r = s.root_result(temperature)
            v = r.visits[0]
            if v.sum() <= 0:
                return int(r.action[0])
            best = int(np.argmax(v))
            if len(game.moves) <= self._last_length:
                self._low = 0  # a new game (or an undo)
            self._last_length = len(game.moves)
            hopeless = r.root_q[0] < self.resign_threshold and r.q[0, best] < self.resign_threshold
            self._low = self._low + 1 if hopeless else 0
            if self._low >= self.resign_consecutive and len(game.moves) > game.size * game.size // 3:
                return RESIGN
            return int(r.action[0]) if temperature > 0 else best
