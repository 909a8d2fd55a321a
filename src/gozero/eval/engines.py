"""Opponents named by short spec strings, and the one interface the match runner plays them through.

Specs (usable on the command line):

=====================  =========================================================================
``random``             gozero's uniform random player, in-process (seeded per game)
``gnugo:L``            GNU Go 3.8 at level L (0..10), ``--mode gtp --chinese-rules``
``pachi:N``            Pachi 11.99 with N playouts per move (N >= 500), one thread, no pondering
``gozero:PATH@V``      gozero's GTP engine on checkpoint PATH with V visits per move; a suffix
                       ``{key=value,...}`` sets its ``[search]`` settings (e.g.
                       ``gozero:m.pt@200{fpu_reduction=0.3}``); the canonical spec lists the
                       settings that differ from the package's play settings, sorted
``katago[:V]``         KataGo (binary/model/config from the environment, see `katago_paths`)
``gtp:CMD``            any GTP engine started by the shell-style command line CMD
=====================  =========================================================================

`parse_spec` turns a string into an `EngineSpec` (unknown names fail here, before any game);
`with_search_settings` folds a match's ``--config`` / ``--set search.key=value`` into a
gozero spec;
`EngineSpec.start(seed)` gives a running `Engine` whose moves are flat indices (NN = pass,
``RESIGN`` = resign), whether it lives in a subprocess (`GTPEngine`) or in this process
(`LocalEngine`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gozero.rules import CoordError, Game, IllegalMove, Rules, from_gtp, to_gtp
from gozero.search.player import RESIGN

from .gtp_client import EngineNotFound, GTPError, GTPProcess, MalformedResponse

GNUGO_CANDIDATES = ("/usr/games/gnugo", "/usr/bin/gnugo", "/usr/local/bin/gnugo")
PACHI_MIN_PLAYOUTS = 500  # Pachi asserts at least this many playouts per move (uct/internal.h GJ_MINGAMES)
COLOR_NAMES = {1: "b", 2: "w"}


class SpecError(ValueError):
    """An engine spec that names no known engine or has bad parameters."""


def find_gnugo() -> str | None:
    """Path of GNU Go: $GOZERO_GNUGO, the Debian location, or PATH."""
    env = os.environ.get("GOZERO_GNUGO")
    if env:
        return env if os.access(env, os.X_OK) else None
    for c in GNUGO_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("gnugo")


def pachi_cache_path() -> Path:
    return Path(os.environ.get("GOZERO_PACHI_DIR", Path.home() / ".cache" / "gozero" / "pachi")) / "pachi"


def find_pachi() -> str | None:
    """Path of the Pachi Go engine: $GOZERO_PACHI, else the binary scripts/build_pachi.sh caches."""
    env = os.environ.get("GOZERO_PACHI")
    if env:
        return env if os.access(env, os.X_OK) else None
    cached = pachi_cache_path()
    return str(cached) if os.access(cached, os.X_OK) else None


@dataclass
class KataGoPaths:
    binary: str | None
    model: str | None
    config: str | None

    def missing(self) -> list[str]:
        out = []
        for key, env in (("binary", "GOZERO_KATAGO"), ("model", "GOZERO_KATAGO_MODEL"),
                         ("config", "GOZERO_KATAGO_CONFIG")):
            value = getattr(self, key)
            if not value or not os.path.exists(value):
                out.append(f"{key} (set ${env}; now {value!r})")
        return out


def katago_paths() -> KataGoPaths:
    """KataGo's binary, model and GTP config from $GOZERO_KATAGO, $GOZERO_KATAGO_MODEL, $GOZERO_KATAGO_CONFIG."""
    return KataGoPaths(os.environ.get("GOZERO_KATAGO") or shutil.which("katago"),
                       os.environ.get("GOZERO_KATAGO_MODEL"), os.environ.get("GOZERO_KATAGO_CONFIG"))


class Engine(Protocol):
    """A player the match runner drives: set up a game, tell it moves, ask it for moves."""

    name: str
    version: str

    def new_game(self, size: int, komi: float) -> None: ...

    def play(self, color: int, move: int) -> None: ...

    def genmove(self, color: int) -> int: ...

    def close(self) -> None: ...


class GTPEngine:
    """An `Engine` over a GTP subprocess. Moves in and out are flat indices."""

    def __init__(self, argv: list[str], label: str, move_timeout: float = 60.0, setup_timeout: float = 60.0,
                 env: dict | None = None):
        self.label = label
        self.move_timeout = move_timeout
        self.gtp = GTPProcess(argv, label=label, timeout=setup_timeout, env=env)
        self.size = 19
        try:
            self.name = _optional(self.gtp, "name") or label
            self.version = short_version(_optional(self.gtp, "version"))
        except Exception:
            self.gtp.close()
            raise

    def new_game(self, size: int, komi: float) -> None:
        self.size = size
        self.gtp.command(f"boardsize {size}")
        self.gtp.command("clear_board")
        self.gtp.command(f"komi {komi:g}")

    def play(self, color: int, move: int) -> None:
        self.gtp.command(f"play {COLOR_NAMES[color]} {to_gtp(move, self.size)}")

    def genmove(self, color: int) -> int:
        return self._move_answer("genmove", color)

    def _move_answer(self, command: str, color: int) -> int:
        answer = self.gtp.command(f"{command} {COLOR_NAMES[color]}", timeout=self.move_timeout)
        word = answer.split()[0] if answer.split() else ""
        if word.lower() == "resign":
            return RESIGN
        try:
            return from_gtp(word, self.size)
        except CoordError:
            raise MalformedResponse(f"{self.label} answered {command} with {answer[:80]!r}, not a vertex") from None

    def genmove_cleanup(self, color: int) -> int:
        """KGS's ``kgs-genmove_cleanup`` (capture dead stones before passing) where the engine
        knows it, plain genmove otherwise."""
        if not hasattr(self, "_has_cleanup"):
            self._has_cleanup = _optional(self.gtp, "known_command kgs-genmove_cleanup").strip() == "true"
        return self._move_answer("kgs-genmove_cleanup" if self._has_cleanup else "genmove", color)

    def send(self, cmd: str) -> str:
        return self.gtp.command(cmd)

    def close(self) -> None:
        self.gtp.close()


def short_version(text: str) -> str:
    """The version proper of a GTP ``version`` answer (Pachi appends a chat message after a colon)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) > 40 and ":" in line:
        line = line.split(":", 1)[0]
    return line[:60].strip()


def _optional(gtp: GTPProcess, cmd: str) -> str:
    try:
        return gtp.command(cmd)
    except GTPError:
        return ""


class LocalEngine:
    """An `Engine` around an in-process gozero `Player` (keeps its own `Game`)."""

    def __init__(self, player, name: str, version: str = ""):
        self.player = player
        self.name = name
        self.version = version
        self.game = Game(9)

    def new_game(self, size: int, komi: float) -> None:
        self.game = Game(size, Rules(komi=komi))

    def play(self, color: int, move: int) -> None:
        try:
            self.game.play(move, color)
        except IllegalMove as exc:  # e.g. a suicide under rules this player does not allow
            raise GTPError(f"{self.name} refused {to_gtp(move, self.game.size)}: {exc}") from None

    def genmove(self, color: int) -> int:
        if self.game.to_move != color:
            self.game.position.to_move = color
        move = int(self.player.genmove(self.game))
        if move != RESIGN and 0 <= move <= self.game.pass_move and self.game.is_legal(move):
            self.game.play(move)  # as a GTP engine would: genmove also plays the move
        return move

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class EngineSpec:
    """A parsed engine spec: what to start and how to name it in results."""

    spec: str  # canonical spec string (the player's key in the results database)
    kind: str  # random | gnugo | pachi | gozero | katago | gtp
    argv: tuple[str, ...] = ()
    settings: str = ""  # human-readable settings for SGF and reports
    params: dict = field(default_factory=dict, compare=False, hash=False)

    def command_line(self, seed: int | None = None) -> list[str]:
        """The argv that starts this engine, with a per-game random seed where the engine takes one."""
        argv = list(self.argv)
        if seed is not None:
            if self.kind == "gnugo":
                argv += ["-r", str(seed)]
            elif self.kind == "pachi":
                argv[1:1] = ["-s", str(seed)]
            elif self.kind == "gozero":
                argv += ["--seed", str(seed)]
        return argv

    def check_available(self) -> None:
        """Raise EngineNotFound with a how-to if this engine cannot be started here."""
        if self.kind == "random":
            return
        if self.kind == "gnugo" and not self.argv:
            raise EngineNotFound("GNU Go not found: install it (Debian: apt-get install gnugo) or set $GOZERO_GNUGO")
        if self.kind == "pachi" and not self.argv:
            raise EngineNotFound("Pachi not found: run `bash scripts/build_pachi.sh` (or `gozero setup-engines`) "
                                 "or set $GOZERO_PACHI to a Pachi binary")
        if self.kind == "katago":
            missing = self.params.get("missing")
            if missing:
                raise EngineNotFound("KataGo is not set up; missing " + ", ".join(missing)
                                     + " (see docs/evaluation.md)")
        if self.kind == "gozero":
            path = Path(self.params["checkpoint"])
            if self.params["checkpoint"] != "random" and not path.is_file():
                raise EngineNotFound(f"gozero checkpoint {path} does not exist")
        if self.argv and shutil.which(self.argv[0]) is None and not os.access(self.argv[0], os.X_OK):
            raise EngineNotFound(f"{self.spec}: program {self.argv[0]!r} not found")

    def start(self, seed: int | None = None, move_timeout: float = 60.0) -> Engine:
        """A running engine for one game."""
        self.check_available()
        if self.kind == "random":
            from gozero.search.random_player import RandomPlayer

            return LocalEngine(RandomPlayer(seed), name="gozero random", version="")
        env = None
        setup_timeout = max(60.0, move_timeout)
        if self.kind == "katago":
            # KataGo loads its net and compiles OpenCL kernels before it answers (about 30 s on a CPU);
            # pocl would use every core unless told otherwise.
            env = {**os.environ, "POCL_MAX_PTHREAD_COUNT": os.environ.get("POCL_MAX_PTHREAD_COUNT", "1")}
            setup_timeout = max(300.0, move_timeout)
        elif self.kind == "gozero":
            setup_timeout = max(180.0, move_timeout)
        return GTPEngine(self.command_line(seed), label=self.spec, move_timeout=move_timeout,
                         setup_timeout=setup_timeout, env=env)


def parse_spec(text: str) -> EngineSpec:
    """Parse an engine spec string (see the module docstring). Raises SpecError."""
    raw = text.strip()
    if not raw:
        raise SpecError("empty engine spec")
    kind, _, arg = raw.partition(":")
    kind = kind.lower()
    if kind == "random":
        if arg:
            raise SpecError("'random' takes no parameter")
        return EngineSpec("random", "random", settings="uniform random legal non-eye-filling moves")
    if kind == "gnugo":
        level = _int(arg or "10", "GNU Go level", raw)
        if not 0 <= level <= 10:
            raise SpecError(f"{raw}: GNU Go level must be 0..10")
        exe = find_gnugo()
        argv = (exe, "--mode", "gtp", "--chinese-rules", "--level", str(level)) if exe else ()
        return EngineSpec(f"gnugo:{level}", "gnugo", argv, f"level {level}, chinese rules", {"level": level})
    if kind == "pachi":
        playouts = _int(arg or "5000", "Pachi playouts", raw)
        if playouts < PACHI_MIN_PLAYOUTS:
            raise SpecError(f"{raw}: Pachi needs at least {PACHI_MIN_PLAYOUTS} playouts per move (it aborts below)")
        exe = find_pachi()
        argv = (exe, "-d", "0", "-r", "chinese", "-t", f"={playouts}", "threads=1,pondering=0") if exe else ()
        return EngineSpec(f"pachi:{playouts}", "pachi", argv, f"{playouts} playouts/move, 1 thread, no pondering",
                          {"playouts": playouts})
    if kind == "gozero":
        arg, settings = _split_settings(arg, raw)
        path, at, visits_s = arg.rpartition("@")
        if not at:
            path, visits_s = arg, "64"
        if not path:
            raise SpecError(f"{raw}: expected gozero:CHECKPOINT@VISITS")
        visits = _int(visits_s, "gozero visits", raw)
        if visits < 1:
            raise SpecError(f"{raw}: visits must be >= 1")
        ckpt = path if path == "random" else str(Path(path).expanduser().resolve())
        diff = search_differences(None, [f"search.{item}" for item in settings], raw) if settings else {}
        argv = (sys.executable, "-m", "gozero.cli", "gtp", "--model", ckpt, "--visits", str(visits))
        for key, value in diff.items():
            argv += ("--set", f"search.{key}={value}")
        suffix = "{" + ",".join(f"{k}={v}" for k, v in diff.items()) + "}" if diff else ""
        described = f"{visits} visits/move" + (", " + ", ".join(f"{k} {v}" for k, v in diff.items()) if diff else "")
        return EngineSpec(f"gozero:{ckpt}@{visits}{suffix}", "gozero", argv, described,
                          {"checkpoint": ckpt, "visits": visits, "search": diff})
    if kind == "katago":
        visits = _int(arg, "KataGo visits", raw) if arg else None
        paths = katago_paths()
        argv: tuple[str, ...] = ()
        if paths.binary and paths.model and paths.config:
            argv = (paths.binary, "gtp", "-model", paths.model, "-config", paths.config)
            if visits:
                argv += ("-override-config", f"maxVisits={visits}")
        name = f"katago:{visits}" if visits else "katago"
        return EngineSpec(name, "katago", argv, f"{visits or 'config'} visits/move",
                          {"visits": visits, "missing": paths.missing()})
    if kind == "gtp":
        if not arg.strip():
            raise SpecError("gtp: needs a command line, e.g. gtp:\"gnugo --mode gtp\"")
        try:
            argv = tuple(shlex.split(arg))
        except ValueError as exc:
            raise SpecError(f"{raw}: cannot split the command line: {exc}") from None
        return EngineSpec(f"gtp:{shlex.join(argv)}", "gtp", argv, "user GTP command")
    raise SpecError(f"unknown engine {kind!r} in {raw!r}; use random, gnugo:L, pachi:N, gozero:PATH@V, katago[:V] "
                    "or gtp:CMD")


def _split_settings(arg: str, raw: str) -> tuple[str, list[str]]:
    """``PATH@V{a=1,b=2}`` -> (``PATH@V``, [``a=1``, ``b=2``])."""
    if not arg.endswith("}"):
        return arg, []
    start = arg.rfind("{")
    if start < 0:
        raise SpecError(f"{raw}: a '}}' without its '{{'")
    items = [x.strip() for x in arg[start + 1:-1].split(",") if x.strip()]
    for item in items:
        if "=" not in item or "." in item.split("=", 1)[0]:
            raise SpecError(f"{raw}: search setting {item!r} must look like key=value (a [search] key)")
    return arg[:start], items


def _toml_word(value: object) -> str:
    """A setting's value as ``--set`` reads it back (a bare word for strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, str) else repr(value)


def search_differences(config: str | Path | None, overrides: list[str], raw: str = "") -> dict[str, str]:
    """The ``[search]`` settings of ``config`` + ``overrides`` that differ from the package's
    play settings, by key (sorted), as ``--set`` values. Raises SpecError on a bad setting."""
    from dataclasses import asdict

    from gozero.play.players import load_search_config

    try:
        chosen = asdict(load_search_config(config, overrides))
    except (ValueError, FileNotFoundError) as exc:
        raise SpecError(f"{raw or 'gozero'}: {exc}") from None
    default = asdict(load_search_config())
    return {k: _toml_word(v) for k, v in sorted(chosen.items()) if v != default[k]}


def with_search_settings(text: str, config: str | Path | None = None, overrides: list[str] | None = None) -> str:
    """The canonical spec of ``text`` with a match's search settings folded in (for gozero
    engines; other specs come back canonical and unchanged). The spec's own ``{...}``
    settings win over ``overrides``, which win over ``config``."""
    spec = parse_spec(text)
    if spec.kind != "gozero" or (config is None and not overrides):
        return spec.spec
    own = [f"search.{k}={v}" for k, v in spec.params["search"].items()]
    diff = search_differences(config, [*(overrides or []), *own], text)
    suffix = "{" + ",".join(f"{k}={v}" for k, v in diff.items()) + "}" if diff else ""
    return parse_spec(f"gozero:{spec.params['checkpoint']}@{spec.params['visits']}{suffix}").spec


def _int(s: str, what: str, raw: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise SpecError(f"{raw}: {what} must be an integer, not {s!r}") from None
