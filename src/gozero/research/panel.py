"""The frozen evaluation panel of an experiment: who a network plays, and the Elo that comes out.

A panel is a fixed list of members (``random``, ``gnugo:LEVEL``, ``pachi:PLAYOUTS``,
``anchor:NAME`` for the frozen networks shipped in ``gozero/research/anchors/``,
``model:NAME`` for a shipped model, ``net:PATH`` for any checkpoint; network members take
an optional ``@VISITS``), a number of games against each, the visits of the rated network,
and one seed. Every game pair shares an opening of ``opening_moves`` random moves drawn from
that seed and is played once with each colour, so every run of an experiment meets exactly
the same opponents in exactly the same openings. Networks search with Gumbel root selection
and no noise (deterministic; the rated network searches with its run's ``[search]``
settings, so test-time search is a variable like any other); GTP engines get fixed seeds and finish their games with
``kgs-genmove_cleanup`` where they know it, so the Tromp-Taylor count of the final position
is fair to both sides.

The scale is anchored once per experiment: every pair of members plays
``calibration_games`` games (`calibrate`, stored in the experiment folder). A network is
then rated (`rate`) alone against the members held at their calibrated ratings (the
Bradley-Terry fit of the calibration games, ``anchor`` at ``anchor_elo``;
`gozero.eval.ratings.rate_against`): its Elo with a 95 % interval given those ratings, and
the same for its raw policy (no search: the most likely legal move), each from its own
games only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from gozero.rules import BLACK, Game, Rules

ANCHOR_DIR = "research/anchors"
RESIGN_MOVE = -1


@dataclass(frozen=True)
class PanelConfig:
    """The ``[panel]`` section of experiment.toml (see `gozero.research.experiment`)."""

    members: tuple[str, ...] = ("random",)
    games: int = 10
    visits: int = 32
    opening_moves: int = 2
    seed: int = 1234
    calibration_games: int = 10
    anchor: str = "random"
    anchor_elo: float = 0.0
    size: int = 7
    komi: float = 9.0
    max_moves_factor: float = 3.0

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("panel.members is empty")
        if self.anchor not in self.members:
            raise ValueError(f"panel.anchor {self.anchor!r} is not among panel.members")
        if self.games < 2 or self.games % 2:
            raise ValueError(f"panel.games must be even and >= 2 (both colours of each opening), not {self.games}")
        if self.calibration_games < 0 or self.calibration_games % 2:
            raise ValueError("panel.calibration_games must be even and >= 0")
        if self.visits < 1:
            raise ValueError("panel.visits must be >= 1")
        for m in self.members:
            member_kind(m)

    def fingerprint(self) -> str:
        """A short hash of everything that decides the calibration games."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def member_kind(spec: str) -> str:
    kind = spec.split(":", 1)[0]
    if spec == "random":
        return "random"
    if kind in ("gnugo", "pachi", "anchor", "model", "net"):
        return kind
    raise ValueError(f"unknown panel member {spec!r}; use random, gnugo:L, pachi:N, anchor:NAME, model:NAME "
                     "or net:PATH (network members take @VISITS)")


def anchor_names() -> list[str]:
    """Names of the shipped anchor networks (``anchor:NAME``)."""
    folder = resources.files("gozero") / ANCHOR_DIR
    if not folder.is_dir():
        return []
    return sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".pt"))


def _split_visits(arg: str, default: int) -> tuple[str, int]:
    path, at, v = arg.rpartition("@")
    if not at:
        return arg, default
    return path, int(v)


def network_path(spec: str, base: Path | None = None) -> tuple[Path, int | None]:
    """The model file and visits of a network member (visits None: the panel's)."""
    kind, _, arg = spec.partition(":")
    name, visits = _split_visits(arg, -1)
    if kind == "anchor":
        path = Path(str(resources.files("gozero") / ANCHOR_DIR / f"{name}.pt"))
    elif kind == "model":
        path = Path(str(resources.files("gozero") / "models" / f"{name}.pt"))
    else:
        path = Path(name).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
    return path, (None if visits < 0 else visits)


def missing_members(cfg: PanelConfig, base: Path | None = None) -> list[str]:
    """Members that cannot play here, each with the reason."""
    from gozero.eval.engines import SpecError, parse_spec

    out = []
    for m in cfg.members:
        kind = member_kind(m)
        if kind in ("gnugo", "pachi"):
            try:
                parse_spec(m).check_available()
            except (SpecError, OSError, RuntimeError) as exc:
                out.append(f"{m}: {exc}")
        elif kind in ("anchor", "model", "net"):
            path, _ = network_path(m, base)
            if not path.is_file():
                out.append(f"{m}: {path} does not exist")
    return out


# -- sides: who picks the moves of one colour in many games at once ------------------------------
class Side:
    """Picks moves for the games listed; ``close`` frees what it holds."""

    def moves(self, games: list[Game], idx: list[int]) -> dict[int, int]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class RandomSide(Side):
    def __init__(self, seed: int):
        from gozero.search.random_player import RandomPlayer

        self.player = RandomPlayer(seed)

    def moves(self, games, idx):
        return {b: self.player.genmove(games[b]) for b in idx}


class NetSide(Side):
    """A network: Gumbel search without noise at ``visits``, or its raw policy when ``visits`` is 0."""

    def __init__(self, model, visits: int, n_games: int, size: int, rules: Rules, seed: int, search=None):
        from dataclasses import replace

        from gozero.net.inference import NetEvaluator
        from gozero.search.mcts import BatchedSearch, SearchConfig

        self.ev = NetEvaluator(model, device="cpu", precision="fp32", random_symmetry=False, seed=seed)
        self.visits = visits
        if visits > 0:
            base = search or SearchConfig(algorithm="gumbel", gumbel_considered=16)
            cfg = replace(base, simulations=visits, leaves_per_game=1)
            self.search = BatchedSearch(self.ev, size, n_games, cfg, komi=rules.komi, allow_suicide=rules.suicide,
                                        seed=seed)

    def moves(self, games, idx):
        if self.visits == 0:
            from gozero.net.features import encode_game

            enc = [encode_game(games[b]) for b in idx]
            out = self.ev.evaluate(np.stack([e[0] for e in enc]), np.stack([e[1] for e in enc]))
            chosen = {}
            for k, b in enumerate(idx):
                legal = games[b].legal_mask()
                chosen[b] = int(np.argmax(np.where(legal, out.policy[k], -np.inf)))
            return chosen
        from gozero.search.mcts import root_inputs

        for b in idx:
            g = games[b]
            prev, last = root_inputs(g)
            self.search.set_root(b, g.position.ints, g.position.bits, g.legal_mask(), prev, last)
        res = self.search.run(games=np.asarray(idx, np.int64))
        return {b: int(res.action[b]) for b in idx}


class GTPSide(Side):
    """A GTP engine, one process per game, told the moves it has not seen before each genmove."""

    def __init__(self, spec: str, n_games: int, size: int, komi: float, seed: int):
        from gozero.eval.engines import parse_spec

        self.spec = parse_spec(spec)
        self.engines = {}
        self.synced = {}
        self.size, self.komi, self.seed = size, komi, seed

    def moves(self, games, idx):
        from gozero.search.player import RESIGN

        out = {}
        for b in idx:
            if b not in self.engines:
                eng = self.spec.start(self.seed + b, move_timeout=120.0)
                eng.new_game(self.size, self.komi)
                self.engines[b], self.synced[b] = eng, 0
            eng, g = self.engines[b], games[b]
            for color, mv in g.moves[self.synced[b]:]:
                eng.play(color, mv)
            mv = eng.genmove_cleanup(g.to_move)
            self.synced[b] = len(g.moves) + 1
            out[b] = RESIGN_MOVE if mv == RESIGN else mv
        return out

    def close(self):
        for eng in self.engines.values():
            try:
                eng.close()
            except Exception:  # noqa: BLE001 - closing a dead engine
                pass
        self.engines.clear()


def make_side(spec: str, cfg: PanelConfig, n_games: int, seed: int, base: Path | None = None,
              model=None, visits: int | None = None, search=None) -> Side:
    """The side of a panel member (or, with ``model``, of a network being rated, searching with
    ``search``, a `SearchConfig`: the run's own [search] section; members use Gumbel)."""
    rules = Rules(komi=cfg.komi)
    if model is not None:
        return NetSide(model, cfg.visits if visits is None else visits, n_games, cfg.size, rules, seed, search)
    kind = member_kind(spec)
    if kind == "random":
        return RandomSide(seed)
    if kind in ("gnugo", "pachi"):
        return GTPSide(spec, n_games, cfg.size, cfg.komi, seed)
    from gozero.net.inference import load_checkpoint_model

    path, v = network_path(spec, base)
    net, _ = load_checkpoint_model(path)
    if net.cfg.size != cfg.size:
        raise ValueError(f"panel member {spec} is a {net.cfg.size}x{net.cfg.size} network; the panel plays "
                         f"{cfg.size}x{cfg.size}")
    return NetSide(net, cfg.visits if v is None else v, n_games, cfg.size, rules, seed)


def play_pairs(side_a: Side, side_b: Side, n_games: int, cfg: PanelConfig, seed: int) -> list[float]:
    """``n_games`` games of A against B in lockstep, A black in the even ones; each pair of
    games shares a random opening drawn from ``seed``. Returns A's score per game (1, 0.5, 0)."""
    from gozero.search.random_player import RandomPlayer

    rules = Rules(komi=cfg.komi)
    boards = [Game(cfg.size, rules) for _ in range(n_games)]
    a_black = [i % 2 == 0 for i in range(n_games)]
    opener = RandomPlayer(seed)
    for i in range(0, n_games, 2):
        for _ in range(cfg.opening_moves):
            mv = opener.genmove(boards[i])
            boards[i].play(mv)
            boards[i + 1].play(mv)
    cap = int(cfg.max_moves_factor * cfg.size * cfg.size)
    scores: list[float | None] = [None] * n_games
    live = set(range(n_games))
    while live:
        order = sorted(live)
        to_a = [i for i in order if (boards[i].to_move == BLACK) == a_black[i]]
        to_b = [i for i in order if i not in to_a]
        chosen = {}
        if to_a:
            chosen.update({i: (mv, True) for i, mv in side_a.moves(boards, to_a).items()})
        if to_b:
            chosen.update({i: (mv, False) for i, mv in side_b.moves(boards, to_b).items()})
        for i, (mv, by_a) in chosen.items():
            g = boards[i]
            if mv == RESIGN_MOVE or not g.is_legal(mv):  # resignation, or an illegal move forfeits
                scores[i] = 0.0 if by_a else 1.0
                live.discard(i)
                continue
            g.play(mv)
            if g.is_over or len(g.moves) >= cap:
                s = g.score()
                s_a = s if a_black[i] else -s
                scores[i] = 1.0 if s_a > 0 else 0.0 if s_a < 0 else 0.5
                live.discard(i)
    return [float(s) for s in scores]


def _pair_seed(cfg: PanelConfig, a: str, b: str) -> int:
    h = hashlib.sha256(f"{cfg.seed}|{a}|{b}".encode()).digest()
    return int.from_bytes(h[:4], "little")


def _member_seed(cfg: PanelConfig, member: str) -> int:
    return _pair_seed(cfg, "member", member)


def calibrate(cfg: PanelConfig, base: Path | None = None,
              progress: Callable[[str], None] | None = None) -> list[tuple[str, str, float]]:
    """Every pair of members plays ``calibration_games`` games; (a, b, score of a) per game."""
    results = []
    members = list(cfg.members)
    if not cfg.calibration_games:
        return results
    for i, a in enumerate(members):
        for b in members[i + 1:]:
            if progress is not None:
                progress(f"calibration: {a} vs {b}")
            n = cfg.calibration_games
            sa = make_side(a, cfg, n, _member_seed(cfg, a), base)
            sb = make_side(b, cfg, n, _member_seed(cfg, b) + 1, base)
            try:
                for s in play_pairs(sa, sb, n, cfg, _pair_seed(cfg, a, b)):
                    results.append((a, b, s))
            finally:
                sa.close()
                sb.close()
    return results


@dataclass
class PanelResult:
    """What rating one network on the panel gave."""

    elo: float
    low: float
    high: float
    raw_elo: float
    raw_low: float
    raw_high: float
    scores: dict[str, float] = field(default_factory=dict)  # mean score against each member (searched)
    raw_scores: dict[str, float] = field(default_factory=dict)
    games: int = 0


def rate(model, cfg: PanelConfig, calibration: Sequence[tuple[str, str, float]], base: Path | None = None,
         progress: Callable[[str], None] | None = None, raw: bool = True, search=None) -> PanelResult:
    """Play ``model`` (searched at ``cfg.visits`` with ``search``, the run's [search] settings
    without noise; and raw, with no search) against every member and fit its Elo on the
    calibrated scale."""
    fixed = member_elos(cfg, calibration)
    scores: dict[str, dict[str, float]] = {"candidate": {}, "candidate-raw": {}}
    out: list[float] = []
    played = 0
    for who, visits in (("candidate", cfg.visits), ("candidate-raw", 0)):
        tallies: dict[str, tuple[float, float]] = {}
        for m in cfg.members if who == "candidate" or raw else ():
            if progress is not None:
                progress(f"{who} vs {m}")
            n = cfg.games
            mine = make_side("", cfg, n, _member_seed(cfg, "candidate"), model=model, visits=visits, search=search)
            theirs = make_side(m, cfg, n, _member_seed(cfg, m) + 1, base)
            try:
                got = play_pairs(mine, theirs, n, cfg, _pair_seed(cfg, "candidate", m))
            finally:
                theirs.close()
            tallies[m] = (float(sum(got)), float(len(got)))
            scores[who][m] = float(np.mean(got))
            played += len(got)
        # the members stay where the calibration put them (a frozen panel): each network is
        # rated alone against them, from its own games only
        out += rate_tallies(tallies, fixed, cfg)
    return PanelResult(*out, scores["candidate"], scores["candidate-raw"], played)


def member_elos(cfg: PanelConfig, calibration: Sequence[tuple[str, str, float]]) -> dict[str, float]:
    """The members' Elo from the calibration games alone (``anchor`` at ``anchor_elo``): where
    the panel holds them for every rating of the experiment."""
    from gozero.eval.ratings import fit_ratings

    fit = fit_ratings(list(calibration), anchor=cfg.anchor, anchor_elo=cfg.anchor_elo, players=list(cfg.members))
    return {m: fit.ratings[m].elo for m in cfg.members}


def rate_tallies(tallies: dict[str, tuple[float, float]], fixed: dict[str, float],
                 cfg: PanelConfig) -> tuple[float, float, float]:
    """(Elo, low, high) of a network that scored ``tallies`` (member -> (points, games))
    against the members held at ``fixed`` (`member_elos`): it depends on its own games only,
    so identical results give identical ratings. NaNs when it played nobody."""
    from gozero.eval import ratings

    if not any(n for _, n in tallies.values()):
        return (float("nan"),) * 3
    r = ratings.rate_tallies(tallies, fixed, anchor_elo=cfg.anchor_elo)
    return r.elo, r.low, r.high


__all__ = ["PanelConfig", "PanelResult", "anchor_names", "calibrate", "member_elos", "missing_members",
           "play_pairs", "rate", "rate_tallies"]
