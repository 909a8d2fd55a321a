"""The controller side of GTP: start an engine as a subprocess and talk to it with timeouts.

`GTPProcess` sends one command at a time and reads the reply (``= ...`` or ``? ...`` ended
by a blank line) from a reader thread, so that a hung engine becomes an `EngineTimeout`
instead of a hung match. Every way an engine can fail is its own exception carrying a
``kind`` that the match runner records: ``crash``, ``timeout``, ``malformed``, ``refused``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence


class EngineError(RuntimeError):
    """Something went wrong with an engine; ``kind`` names what, for the results database."""

    kind = "error"


class EngineNotFound(EngineError):
    """The engine's program is not installed or cannot be started."""

    kind = "missing"


class EngineCrashed(EngineError):
    """The engine's process exited or closed its pipes."""

    kind = "crash"


class EngineTimeout(EngineError):
    """The engine did not answer within the time allowed."""

    kind = "timeout"


class MalformedResponse(EngineError):
    """The engine answered something that is not GTP (or not a vertex where one was due)."""

    kind = "malformed"


class GTPError(EngineError):
    """The engine answered ``? message``: it refused the command."""

    kind = "refused"


class GTPProcess:
    """One GTP engine subprocess. ``command(cmd)`` returns the reply text or raises EngineError."""

    def __init__(self, argv: Sequence[str], label: str = "", timeout: float = 60.0, env: dict | None = None,
                 cwd: str | None = None):
        if not argv:
            raise ValueError("empty engine command line")
        self.argv = list(argv)
        self.label = label or os.path.basename(self.argv[0])
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile(mode="w+b")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                         env=env, cwd=cwd, start_new_session=True)
        except (FileNotFoundError, PermissionError, OSError) as exc:
            self._stderr.close()
            raise EngineNotFound(f"{self.label}: cannot start {self.argv[0]!r}: {exc}") from exc
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def stderr_tail(self, n: int = 600) -> str:
        """The last ``n`` characters the engine wrote to stderr (for crash reports)."""
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - n))
            return self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def _crashed(self, cmd: str) -> EngineCrashed:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        tail = self.stderr_tail()
        msg = f"{self.label} died during {cmd!r} (exit code {code})"
        if tail:
            msg += f"; stderr: {tail.splitlines()[-1][:300]}"
        return EngineCrashed(msg)

    def command(self, cmd: str, timeout: float | None = None) -> str:
        """Send one command; return the text after ``=``. Raises GTPError on ``?``."""
        if self.proc.poll() is not None and self._lines.empty():
            raise self._crashed(cmd)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((cmd.strip() + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise self._crashed(cmd) from None
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        reply: list[str] = []
        status = ""
        while True:
            left = deadline - time.monotonic()
            try:
                raw = self._lines.get(timeout=max(left, 0.0)) if left > 0 else self._lines.get_nowait()
            except queue.Empty:
                raise EngineTimeout(f"{self.label} gave no answer to {cmd!r} within "
                                    f"{self.timeout if timeout is None else timeout:g} s") from None
            if raw is None:
                self._lines.put(None)  # keep the EOF mark for later calls
                raise self._crashed(cmd)
            line = raw.decode("utf-8", "replace").rstrip("\r\n").replace("\t", " ")
            if not status:
                if not line.strip():
                    continue  # blank lines before a reply are tolerated
                if line[0] not in "=?":
                    raise MalformedResponse(f"{self.label} answered {line[:120]!r} to {cmd!r} (not GTP)")
                status = line[0]
                # strip an optional numeric id after the status character
                rest = line[1:]
                i = 0
                while i < len(rest) and rest[i].isdigit():
                    i += 1
                reply.append(rest[i:].strip())
                continue
            if not line.strip():
                break
            reply.append(line)
        text = "\n".join(reply).strip()
        if status == "?":
            raise GTPError(f"{self.label} refused {cmd!r}: {text or '(no message)'}")
        return text

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, grace: float = 2.0) -> None:
        """Ask the engine to quit; kill its process group if it does not."""
        if self.proc.poll() is None:
            try:
                self.command("quit", timeout=grace)
            except EngineError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    self.proc.kill()
                self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        self._stderr.close()

    def __enter__(self) -> GTPProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
