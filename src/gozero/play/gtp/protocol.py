"""GTP version 2 protocol and I/O: line cleaning, ids, dispatch, answers, streaming.

`GtpProtocol` knows nothing about Go. It registers the ``cmd_<name>`` methods of handler
objects (``kgs_genmove_cleanup`` answers ``kgs-genmove_cleanup``), converts each command's
arguments from the method's annotations (``int``, ``float``, ``str``, `Color`, ``X | None``
for an optional last argument, ``*args: str`` for the rest of the line), and writes the
answer: ``=[id] result`` or ``?[id] message``, each ended by a blank line. A `GtpError`
carries the spec's error text (``illegal move``, ``syntax error`` ...) and, apart from it,
the reason, which goes to the log (stderr) so that controllers still see the exact words
the spec gives. Streaming commands (``lz-analyze``) write their own answer through
`begin_stream` / `end_stream` and stop when the next input line arrives (`wait_for_line`).
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import queue
import sys
import threading
import types
import typing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NewType

from gozero.rules import BLACK, WHITE

log = logging.getLogger("gozero.gtp")

DASHED_PREFIXES = ("kgs_", "lz_", "kata_", "gogui_")
COLORS = {"b": BLACK, "black": BLACK, "w": WHITE, "white": WHITE}

Color = NewType("Color", int)  # a GTP colour argument: b, w, black, white (any case) -> BLACK / WHITE


class GtpError(Exception):
    """A failed command. ``message`` is the answer's text (``? message``), ``reason`` what
    exactly went wrong (logged, not sent: the spec's messages are meant to be matched)."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason


def clean_line(line: str) -> str:
    """GTP preprocessing: drop control characters but HT/LF, HT -> space, cut comments."""
    line = "".join(" " if ch == "\t" else ch for ch in line if ch == "\t" or (ord(ch) >= 32 and ord(ch) != 127))
    return line.split("#", 1)[0].strip()


def is_digits(token: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts characters such as '²')."""
    return bool(token) and token.isascii() and token.isdigit()


def parse_color(token: str) -> int:
    color = COLORS.get(token.lower())
    if color is None:
        raise GtpError("syntax error", f"{token!r} is not a colour")
    return color


def parse_int(token: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise GtpError("syntax error", f"{token!r} is not an integer") from None


def parse_float(token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise GtpError("syntax error", f"{token!r} is not a number") from None
    if not math.isfinite(value):
        raise GtpError("syntax error", f"{token!r} is not a finite number")
    return value


def parse_bool(token: str) -> bool:
    if token.lower() not in ("true", "false"):
        raise GtpError("syntax error", f"{token!r} is not true or false")
    return token.lower() == "true"


CONVERTERS: dict[Any, Callable[[str], Any]] = {int: parse_int, float: parse_float, str: str, bool: parse_bool,
                                               Color: parse_color}


@dataclass
class Command:
    """A registered command: its handler method and how to convert its arguments."""

    name: str
    method: Callable[..., str | None]
    converters: list[Callable[[str], Any]]
    required: int  # arguments without a default
    rest: Callable[[str], Any] | None  # converter of ``*args``, if the method takes them

    def __call__(self, tokens: list[str]) -> str | None:
        n = len(self.converters)
        if len(tokens) < self.required or (self.rest is None and len(tokens) > n):
            want = f"{self.required}" if self.required == n else f"{self.required} to {n}"
            raise GtpError("syntax error", f"{self.name} takes {want}{' or more' if self.rest else ''} "
                                           f"arguments, not {len(tokens)}")
        args = [conv(tok) for conv, tok in zip(self.converters, tokens, strict=False)]
        if self.rest is not None:
            args += [self.rest(tok) for tok in tokens[n:]]
        return self.method(*args)


def command_name(method_name: str) -> str:
    """The GTP name of a ``cmd_`` method name (without the prefix)."""
    for prefix in DASHED_PREFIXES:
        if method_name.startswith(prefix):
            return prefix[:-1] + "-" + method_name[len(prefix):]
    return method_name


def _converter(annotation: Any, where: str) -> Callable[[str], Any]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            annotation = options[0]
    conv = CONVERTERS.get(annotation)
    if conv is None:
        raise TypeError(f"{where}: no GTP argument conversion for {annotation!r}")
    return conv


def make_command(name: str, method: Callable[..., str | None]) -> Command:
    """A `Command` from a bound method, its argument conversions read from its annotations."""
    hints = typing.get_type_hints(method)
    converters: list[Callable[[str], Any]] = []
    required, rest = 0, None
    for p in inspect.signature(method).parameters.values():
        conv = _converter(hints.get(p.name, str), f"{name}({p.name})")
        if p.kind is p.VAR_POSITIONAL:
            rest = conv
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            converters.append(conv)
            if p.default is p.empty:
                if required < len(converters) - 1:
                    raise TypeError(f"{name}: a required argument after an optional one")
                required += 1
        else:
            raise TypeError(f"{name}: GTP arguments are positional ({p.name})")
    return Command(name, method, converters, required, rest)


class GtpProtocol:
    """Reads command lines, dispatches them to the registered handlers, writes the answers."""

    def __init__(self, out: IO[str] | None = None):
        self.out = out if out is not None else sys.stdout
        self.commands: dict[str, Command] = {}
        self.quit = False
        self.cmd_id = ""
        self._write_lock = threading.Lock()
        self._capture: list[str] | None = None
        self._input: queue.Queue[str | None] | None = None
        self._pending: deque[str | None] = deque()

    def register(self, *handlers: object) -> None:
        """Add every ``cmd_<name>`` method of each handler as the command ``<name>``."""
        for handler in handlers:
            for attr in sorted(dir(handler)):
                if not attr.startswith("cmd_"):
                    continue
                name = command_name(attr[4:])
                if name in self.commands:
                    raise ValueError(f"GTP command {name} is registered twice")
                self.commands[name] = make_command(name, getattr(handler, attr))

    # -- output ---------------------------------------------------------------------------
    def write(self, text: str) -> None:
        with self._write_lock:
            if self._capture is not None:
                self._capture.append(text)
            self.out.write(text)
            self.out.flush()

    def begin_stream(self) -> None:
        """The first line of a streaming answer (``=[id]``); the command writes the rest."""
        self.write(f"={self.cmd_id}\n")

    def end_stream(self) -> None:
        """The blank line that ends a streaming answer."""
        self.write("\n")

    # -- input ----------------------------------------------------------------------------
    @property
    def live_input(self) -> bool:
        """True while `run` serves an input stream (a streaming command can be interrupted)."""
        return self._input is not None

    def wait_for_line(self, worker: threading.Thread) -> None:
        """Wait until ``worker`` ends or the next input line arrives (that line is kept and
        runs after the current command)."""
        if self._input is None:
            return
        while worker.is_alive():
            try:
                line = self._input.get(timeout=0.05)
            except queue.Empty:
                continue
            self._pending.append(line)
            return

    def _next_line(self) -> str | None:
        if self._pending:
            return self._pending.popleft()
        assert self._input is not None
        return self._input.get()

    # -- commands -------------------------------------------------------------------------
    def handle(self, line: str) -> str:
        """Run one command line; return everything written for it ("" for blank/comment lines)."""
        self._capture = []
        try:
            self.execute(line)
            return "".join(self._capture)
        finally:
            self._capture = None

    def execute(self, line: str) -> None:
        """Run one command line, writing its answer to ``out``."""
        text = clean_line(line)
        if not text:
            return
        tokens = text.split()
        cmd_id = ""
        if is_digits(tokens[0]):
            cmd_id = tokens.pop(0)
            if not tokens:
                self.write(f"?{cmd_id} syntax error\n\n")
                return
        name, args = tokens[0], tokens[1:]
        command = self.commands.get(name)
        if command is None:
            self.write(f"?{cmd_id} unknown command\n\n")
            return
        self.cmd_id = cmd_id
        try:
            result = command(args)
        except GtpError as exc:
            if exc.reason:
                log.info("%s: %s: %s", text, exc.message, exc.reason)
            self.write(f"?{cmd_id} {exc.message}\n\n")
            return
        except Exception as exc:  # a bug must not kill the session
            log.exception("command %r failed", text)
            self.write(f"?{cmd_id} internal error: {type(exc).__name__}: {exc}".replace("\n", " ") + "\n\n")
            return
        if result is None:  # streaming commands write their own answer
            return
        if result.startswith("\n"):
            self.write(f"={cmd_id}{result}\n\n")
        elif result:
            self.write(f"={cmd_id} {result}\n\n")
        else:
            self.write(f"={cmd_id}\n\n")

    def run(self, stream: Iterable[str] | Iterable[bytes] | None = None) -> None:
        """Serve GTP on ``stream`` (any iterable of lines; default stdin) until ``quit`` or
        end of input."""
        if stream is None:
            # Raw reads: a reader thread blocked in sys.stdin's buffered reader would abort
            # the interpreter at exit after ``quit``.
            stream = fd_lines(sys.stdin.fileno())
        inbox: queue.Queue[str | None] = queue.Queue()
        self._input = inbox

        def reader() -> None:
            try:
                for raw in stream:
                    inbox.put(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
            except (OSError, ValueError) as exc:
                log.warning("input closed: %s", exc)
            finally:
                inbox.put(None)

        threading.Thread(target=reader, name="gtp-reader", daemon=True).start()
        while not self.quit:
            line = self._next_line()
            if line is None:
                break
            self.execute(line)
        self._input = None


class ProtocolCommands:
    """The administrative commands: protocol_version, name, version, known_command,
    list_commands, quit."""

    def __init__(self, protocol: GtpProtocol, name: str, version: str):
        self.protocol, self.name, self.version = protocol, name, version

    def cmd_protocol_version(self) -> str:
        return "2"

    def cmd_name(self) -> str:
        return self.name

    def cmd_version(self) -> str:
        return self.version

    def cmd_known_command(self, command: str) -> str:
        return "true" if command in self.protocol.commands else "false"

    def cmd_list_commands(self) -> str:
        return "\n" + "\n".join(self.protocol.commands)

    def cmd_quit(self) -> str:
        self.protocol.quit = True
        return ""


def fd_lines(fd: int) -> Iterator[bytes]:
    """Lines read from a file descriptor with unbuffered ``os.read``."""
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line + b"\n"
    if buf:
        yield buf
