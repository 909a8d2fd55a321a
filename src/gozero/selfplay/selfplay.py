"""Self-play: B games in lockstep, one batched search per move, finished games to shards.

Each move step searches every game's position at once (`BatchedSearch`), records the
positions that got a full search as training examples (playout cap randomization: a
fraction ``full_fraction`` of moves get ``full_simulations`` and become policy targets, the
rest get ``cheap_simulations`` and only move the game on), plays the chosen moves and, when
a game ends, labels its examples with the outcome, the final ownership and score, hands
them to the `ShardWriter`, and starts a new game in the freed slot.

Scoring: the search values positions ended by two passes by ``rules.scoring``, and a game
ended by two passes is recorded by the same rule. Under ``tromp_taylor`` its result, final
ownership and score are the strict area count of the board as it stands. Under
``area_dead_removed`` the network evaluates the final position once more, the stones its
ownership calls dead (`rules.dead_stones`, the search's own rule) are removed, and result,
ownership (dead stones' points belong to the side that surrounds them) and score are the
area count without them; the SGF's RE says the same. Games that resign or hit the move cap
are recorded as before (the resigner loses; the cap counts the board as it stands).

Acting (``acting``): ``search`` plays the search's move (today's AlphaZero self-play);
``policy`` samples every move from the raw network at temperature 1 (one batched network
call per move for all live games, no search) and records every position: the data of the
policy-gradient arms. Each recorded position also keeps the learning signals of
`shards.SIGNAL_FIELDS`: the move played, its log-probability under the acting distribution,
the network and search values at the root, the search's per-move Q and the network version.

Resignation: a game ends when the side to move's search value stays under
``resign_threshold``; a fraction ``no_resign_fraction`` of games never resign, and their
outcomes measure the false-resignation rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gozero.net.features import NUM_GLOBALS, NUM_PLANES, encode_game
from gozero.net.inference import NetEvaluator
from gozero.rules import BLACK, Game, Rules, dead_stones
from gozero.search.mcts import BatchedSearch, SearchConfig

from .shards import SIGNAL_FIELDS, ShardWriter, outcome_targets, signal_defaults


def move_choice_logp(algorithm: str, visits: np.ndarray, policy_target: np.ndarray, action: int,
                     temperature: float) -> float:
    """Log-probability of ``action`` under the search's move choice at one root.

    PUCT samples visits ** (1 / temperature) (the most visited move, probability 1, at
    temperature 0). Gumbel's choice (argmax of Gumbel noise + logits + sigma(q) over the
    most visited candidates) is a sample of its completed-Q improved policy up to the
    sequential halving's truncation, so its log-probability is that of ``policy_target``."""
    if algorithm == "puct" and visits.sum() > 0:
        if temperature <= 0:
            return 0.0
        w = visits.astype(np.float64) ** (1.0 / temperature)
        return float(np.log(max(w[action] / w.sum(), 1e-30)))
    return float(np.log(max(float(policy_target[action]), 1e-30)))


@dataclass
class SelfPlayConfig:
    """Self-play settings (see presets/*.toml for documented values)."""

    parallel_games: int = 64
    full_simulations: int = 32
    cheap_simulations: int = 8
    full_fraction: float = 0.25
    temperature: float = 1.0  # PUCT move choice in the opening
    temperature_moves: int = 12
    max_moves_factor: float = 3.0  # game cap: factor x board area
    resign_threshold: float = -0.9
    resign_consecutive: int = 3
    no_resign_fraction: float = 0.2
    sgf_every: int = 50  # keep every k-th game as SGF (0: none)
    acting: str = "search"  # "search" (play the search's move) or "policy" (sample the raw network)


@dataclass
class SelfPlayStats:
    games: int = 0
    positions: int = 0
    moves: int = 0
    black_wins: int = 0
    resigned: int = 0
    capped: int = 0
    no_resign_games: int = 0
    would_resign: int = 0
    false_resign: int = 0
    seconds: float = 0.0
    net_evals: int = 0
    lengths: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "lengths"}
        d["mean_length"] = float(np.mean(self.lengths)) if self.lengths else 0.0
        d["false_resign_rate"] = self.false_resign / self.would_resign if self.would_resign else 0.0
        return d


@dataclass(frozen=True)
class SelfPlayProgress:
    """Where a batch of self-play stands: reported through `SelfPlay.play_games`'s
    ``on_progress`` (and built by the training loop for its worker processes).

    ``eta`` is the estimated seconds left (None until there is a basis for it)."""

    games: int  # games finished in this batch
    games_target: int | None
    positions: int  # training positions recorded by the finished games
    moves: int  # moves played in this batch (all games, finished or not)
    seconds: float
    eta: float | None = None
    positions_target: int | None = None


class _Slot:
    def __init__(self, game: Game, no_resign: bool):
        self.game = game
        self.no_resign = no_resign
        self.planes: list[np.ndarray] = []
        self.globals: list[np.ndarray] = []
        self.policy: list[np.ndarray] = []
        self.to_move: list[int] = []
        self.signals: dict[str, list] = {k: [] for k in SIGNAL_FIELDS if k != "game_moves"}
        self.low_streak = 0
        self.would_resign_color = 0
        self.resigned_color = 0


class SelfPlay:
    """Plays games with one evaluator, writing finished games through ``writer``."""

    def __init__(self, evaluator: NetEvaluator, size: int, rules: Rules, search: SearchConfig,
                 config: SelfPlayConfig, writer: ShardWriter | None, sgf_dir: Path | None = None,
                 seed: int | None = None):
        self.ev = evaluator
        self.size = size
        self.rules = rules
        self.cfg = config
        self.search_cfg = search
        self.writer = writer
        self.sgf_dir = Path(sgf_dir) if sgf_dir else None
        self.rng = np.random.default_rng(seed)
        self.B = config.parallel_games
        sims = max(config.full_simulations, config.cheap_simulations)
        cfg = SearchConfig(**{**search.__dict__, "simulations": sims})
        self.search = BatchedSearch(evaluator, size, self.B, cfg, komi=rules.komi, allow_suicide=rules.suicide,
                                    seed=int(self.rng.integers(2**31)), scoring=rules.scoring)
        self.nn = size * size
        self.max_moves = int(config.max_moves_factor * self.nn)
        self.slots: list[_Slot | None] = [self._new_slot() for _ in range(self.B)]
        self.stats = SelfPlayStats()
        self.net_version = 0  # training step of the network that plays (the trainer sets it)
        self._fresh = np.ones(self.B, np.bool_)
        self._last_action = np.full(self.B, -1, np.int64)

    def _new_slot(self) -> _Slot:
        return _Slot(Game(self.size, self.rules), bool(self.rng.random() < self.cfg.no_resign_fraction))

    # -- one move for every game ----------------------------------------------------------
    def step(self, stop_new_games: bool = False) -> list[dict]:
        """Advance every live game by one move; returns summaries of games that ended."""
        t0 = time.perf_counter()
        cfg = self.cfg
        live = [b for b, s in enumerate(self.slots) if s is not None]
        if not live:
            return []
        if cfg.acting == "policy":
            return self._policy_step(live, stop_new_games, t0)
        full = bool(self.rng.random() < cfg.full_fraction)
        sims = cfg.full_simulations if full else cfg.cheap_simulations
        for b in live:
            played = () if self._fresh[b] else (int(self._last_action[b]),)
            self.search.set_root_from_game(b, self.slots[b].game, played)
            self._fresh[b] = False
        noise = np.zeros(self.B, np.bool_)
        temps = np.zeros(self.B, np.float32)
        for b in live:
            noise[b] = full or self.search.policy.cheap_search_noise
            if len(self.slots[b].game.moves) < cfg.temperature_moves:
                temps[b] = cfg.temperature
        evals0 = self.ev.evaluations
        res = self.search.run(games=np.asarray(live), simulations=sims, noise=noise, temperature=temps)
        self.stats.net_evals += self.ev.evaluations - evals0
        finished = []
        ended = []  # games ended by two passes, their count decided after the loop
        for b in live:
            slot = self.slots[b]
            g = slot.game
            if full:
                planes, glob = encode_game(g)
                slot.planes.append(np.packbits(planes, axis=1))
                slot.globals.append(glob)
                slot.policy.append(res.policy_target[b].astype(np.float16))
                slot.to_move.append(g.to_move)
                self._record_signals(slot, g, res, b, float(temps[b]))
            self._resign_or_play(b, float(res.root_q[b]), int(res.action[b]), ended, finished)
        return self._end_step(ended, finished, stop_new_games, t0)

    def _resign_or_play(self, b: int, value: float, action: int, ended: list[int], finished: list[dict]) -> None:
        """Game ``b`` resigns on ``value`` (its search or network value for the side to move)
        or plays ``action``; a game that ends is finished now or, ended by two passes under
        area_dead_removed, listed in ``ended`` for its count."""
        cfg = self.cfg
        slot = self.slots[b]
        g = slot.game
        slot.low_streak = slot.low_streak + 1 if value < cfg.resign_threshold else 0
        if slot.low_streak >= cfg.resign_consecutive and len(g.moves) > self.nn // 4:
            if slot.no_resign:
                if not slot.would_resign_color:
                    slot.would_resign_color = g.to_move
            else:
                slot.resigned_color = g.to_move
                finished.append(self._finish(b))
                return
        g.play(action)
        self._last_action[b] = action
        self.stats.moves += 1
        if g.is_over and self.rules.scoring == "area_dead_removed":
            ended.append(b)
        elif g.is_over or len(g.moves) >= self.max_moves:
            finished.append(self._finish(b))

    def _end_step(self, ended: list[int], finished: list[dict], stop_new_games: bool, t0: float) -> list[dict]:
        """Count the games ended by two passes, refill the free slots, and return the
        games this step finished."""
        self._finish_counted(ended, finished)
        for b in range(self.B):
            if self.slots[b] is None and not stop_new_games:
                self.slots[b] = self._new_slot()
                self._fresh[b] = True
        self.stats.seconds += time.perf_counter() - t0
        return finished

    def _finish_counted(self, ended: list[int], finished: list[dict]) -> None:
        """Finish the games of ``ended`` (two passes, area_dead_removed) by the count without
        the stones the network's ownership at their final positions calls dead."""
        if ended:
            for b, dead in zip(ended, self._dead_at_end([self.slots[b].game for b in ended]), strict=True):
                finished.append(self._finish(b, dead))

    def _dead_at_end(self, games: list[Game]) -> list[np.ndarray]:
        """The dead stones of finished games by the network's ownership (one call for all)."""
        feats = [encode_game(g) for g in games]
        out = self.ev.evaluate(np.stack([p for p, _ in feats]), np.stack([q for _, q in feats]), self.size)
        self.stats.net_evals += len(games)
        return [dead_stones(g.position, out.ownership[i] * (1 if g.to_move == BLACK else -1))
                for i, g in enumerate(games)]

    def _record_signals(self, slot: _Slot, g: Game, res, b: int, temperature: float) -> None:
        """The learning signals of a recorded position searched as root ``b`` of ``res``."""
        a = int(res.action[b])
        sig = slot.signals
        sig["action"].append(a)
        sig["behaviour_logp"].append(move_choice_logp(self.search_cfg.algorithm, res.visits[b], res.policy_target[b],
                                                      a, temperature))
        sig["root_value"].append(float(res.value[b]))
        sig["search_value"].append(float(res.root_q[b]))
        sig["search_q"].append(np.where(res.visits[b] > 0, res.q[b], np.nan).astype(np.float16))
        sig["move_index"].append(len(g.moves))
        sig["net_version"].append(self.net_version)

    def _policy_step(self, live: list[int], stop_new_games: bool, t0: float) -> list[dict]:
        """acting = policy: one network call for all live games, each move sampled from the
        network's policy over the legal moves (temperature 1); every position is recorded."""
        n = len(live)
        planes = np.zeros((n, NUM_PLANES, self.nn), np.uint8)
        glob = np.zeros((n, NUM_GLOBALS), np.float32)
        legal = np.zeros((n, self.nn + 1), np.bool_)
        for i, b in enumerate(live):
            g = self.slots[b].game
            planes[i], glob[i] = encode_game(g)
            legal[i] = g.legal_mask()
        out = self.ev.evaluate(planes, glob, self.size)
        self.stats.net_evals += n
        logits = np.where(legal, out.policy.astype(np.float64), -np.inf)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        probs = np.exp(logp)
        finished: list[dict] = []
        ended = []  # games ended by two passes, counted after the loop (area_dead_removed)
        for i, b in enumerate(live):
            slot = self.slots[b]
            g = slot.game
            a = int(self.rng.choice(self.nn + 1, p=probs[i] / probs[i].sum()))
            slot.planes.append(np.packbits(planes[i], axis=1))
            slot.globals.append(glob[i])
            slot.policy.append(probs[i].astype(np.float16))
            slot.to_move.append(g.to_move)
            sig = slot.signals
            sig["action"].append(a)
            sig["behaviour_logp"].append(float(logp[i, a]))
            sig["root_value"].append(float(out.value[i]))
            sig["search_value"].append(float(out.value[i]))
            sig["search_q"].append(np.full(self.nn + 1, np.nan, np.float16))
            sig["move_index"].append(len(g.moves))
            sig["net_version"].append(self.net_version)
            self._resign_or_play(b, float(out.value[i]), a, ended, finished)
        return self._end_step(ended, finished, stop_new_games, t0)

    def _finish(self, b: int, dead: np.ndarray | None = None) -> dict:
        slot = self.slots[b]
        g = slot.game
        score, owner = g.position.score(self.rules.komi, dead)
        capped = not g.is_over and not slot.resigned_color
        if slot.resigned_color:
            winner = 3 - slot.resigned_color
        else:
            winner = BLACK if score > 0 else (3 - BLACK if score < 0 else 0)
        n = len(slot.planes)
        st = self.stats
        st.games += 1
        st.positions += n
        st.lengths.append(len(g.moves))
        st.black_wins += winner == BLACK
        st.resigned += bool(slot.resigned_color)
        st.capped += capped
        if slot.no_resign:
            st.no_resign_games += 1
            if slot.would_resign_color:
                st.would_resign += 1
                st.false_resign += winner == slot.would_resign_color
        if n and self.writer is not None:
            settled = not slot.resigned_color and not capped
            arrays = {
                "planes": np.stack(slot.planes),
                "globals": np.stack(slot.globals).astype(np.float32),
                "policy": np.stack(slot.policy),
                "policy_weight": np.ones(n, np.float32),
                **outcome_targets(slot.to_move, winner, owner, score),
                "aux_weight": np.full(n, 1.0 if settled else 0.0, np.float32),
                **signal_arrays(slot.signals, len(g.moves)),
            }
            self.writer.add_game(arrays, self.size)
        if self.sgf_dir is not None and self.cfg.sgf_every and (st.games - 1) % self.cfg.sgf_every == 0:
            self._save_sgf(g, winner, slot, dead)
        self.slots[b] = None
        return {"moves": len(g.moves), "winner": winner, "score": score, "resigned": bool(slot.resigned_color)}

    def _save_sgf(self, g: Game, winner: int, slot: _Slot, dead: np.ndarray | None) -> None:
        from gozero.rules.sgf import game_to_sgf

        if slot.resigned_color:
            result = ("B" if winner == BLACK else "W") + "+R"
        else:
            result = g.result_string(dead)
        self.sgf_dir.mkdir(parents=True, exist_ok=True)
        path = self.sgf_dir / f"game_{self.stats.games:07d}_{int(time.time())}.sgf"
        path.write_text(game_to_sgf(g, black="gozero-selfplay", white="gozero-selfplay", result=result))

    def play_games(self, n_games: int, max_seconds: float | None = None,
                   on_progress: Callable[[SelfPlayProgress], None] | None = None,
                   progress_every: float = 1.0, stop: Callable[[], bool] | None = None) -> SelfPlayStats:
        """Play until ``n_games`` more games have finished (or the time is up, or ``stop()``
        says so: it is asked between moves; games in flight stay unfinished).

        ``on_progress`` is called at most every ``progress_every`` seconds between moves
        (one clock read per move; nothing when None) and once at the end."""
        target = self.stats.games + n_games
        start = time.monotonic()
        games0, pos0, moves0 = self.stats.games, self.stats.positions, self.stats.moves
        # a game length to turn moves into an ETA before the first game of the batch ends
        known_length = float(np.mean(self.stats.lengths[-200:])) if self.stats.lengths else None
        last_report = start
        while self.stats.games < target and not (stop is not None and stop()):
            self.step()
            now = time.monotonic()
            if max_seconds is not None and now - start > max_seconds:
                break
            if on_progress is not None and now - last_report >= progress_every:
                last_report = now
                on_progress(self._progress(n_games, games0, pos0, moves0, now - start, known_length))
        if on_progress is not None:
            on_progress(self._progress(n_games, games0, pos0, moves0, time.monotonic() - start, known_length))
        return self.stats

    def _progress(self, n_games: int, games0: int, pos0: int, moves0: int, seconds: float,
                  known_length: float | None) -> SelfPlayProgress:
        """Counts since the batch began and an ETA once there is a basis for one."""
        st = self.stats
        games, moves = st.games - games0, st.moves - moves0
        eta = None
        if games >= n_games:
            eta = 0.0
        elif known_length and moves:
            # with a game length from earlier batches: the batch ends after about
            # max(n_games, B) * length moves (with more slots than games, all slots play on)
            done = min(moves / (max(n_games, self.B) * known_length), 0.99)
            eta = seconds * (1 - done) / done
        elif games >= max(1, min(n_games, self.B) // 4):
            # the first games to end are the short ones: wait for a quarter of a wave
            eta = seconds * (n_games - games) / games
        return SelfPlayProgress(games=games, games_target=n_games, positions=st.positions - pos0, moves=moves,
                                seconds=seconds, eta=eta)


def signal_arrays(signals: dict[str, list], game_moves: int) -> dict[str, np.ndarray]:
    """A finished game's recorded learning signals as shard arrays (see `SIGNAL_FIELDS`)."""
    n = len(signals["action"])
    return {
        "action": np.asarray(signals["action"], np.int16),
        "behaviour_logp": np.asarray(signals["behaviour_logp"], np.float32),
        "root_value": np.asarray(signals["root_value"], np.float32),
        "search_value": np.asarray(signals["search_value"], np.float32),
        "search_q": np.stack(signals["search_q"]).astype(np.float16),
        "move_index": np.asarray(signals["move_index"], np.int16),
        "game_moves": np.full(n, game_moves, np.int16),
        "net_version": np.asarray(signals["net_version"], np.int32),
    }


def empty_batch(n: int, nn: int) -> dict[str, np.ndarray]:
    """Arrays with the shard layout and ``n`` rows (for tests and tools)."""
    return {
        "planes": np.zeros((n, NUM_PLANES, (nn + 7) // 8), np.uint8),
        "globals": np.zeros((n, NUM_GLOBALS), np.float32),
        "policy": np.zeros((n, nn + 1), np.float16),
        "policy_weight": np.ones(n, np.float32),
        "value": np.zeros((n, 3), np.float32),
        "ownership": np.zeros((n, nn), np.int8),
        "score": np.zeros(n, np.float32),
        "aux_weight": np.ones(n, np.float32),
        **signal_defaults(n, nn),
    }
