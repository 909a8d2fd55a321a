"""A misbehaving GTP engine for the match runner's fault tests (a test double, not a Go player).

It plays the first legal point in reading order (never filling its own eye region is not
attempted; games stay short because it passes once ``--pass-after`` of its own moves are
played) and can be told to fail at its N-th genmove::

    python fake_gtp.py [--crash-at N] [--hang-at N] [--illegal-at N] [--garbage-at N]
                       [--bad-vertex-at N] [--resign-at N] [--refuse-size S] [--pass-after K] [--tag T]
"""

from __future__ import annotations

import argparse
import sys
import time

COLS = "ABCDEFGHJKLMNOPQRST"


def main() -> None:
    ap = argparse.ArgumentParser()
    for flag in ("crash-at", "hang-at", "illegal-at", "garbage-at", "bad-vertex-at", "resign-at", "refuse-size"):
        ap.add_argument(f"--{flag}", type=int, default=-1)
    ap.add_argument("--pass-after", type=int, default=6)
    ap.add_argument("--tag", default="")  # ignored: lets tests name distinct players
    a = ap.parse_args()
    size, stones, genmoves = 9, set(), 0
    out = sys.stdout

    def reply(text: str = "", ok: bool = True) -> None:
        out.write(("= " if ok else "? ") + text + "\n\n")
        out.flush()

    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd, args = parts[0].lower(), parts[1:]
        if cmd == "name":
            reply("fake")
        elif cmd == "version":
            reply("0.1")
        elif cmd == "protocol_version":
            reply("2")
        elif cmd == "boardsize":
            if int(args[0]) == a.refuse_size:
                reply("unacceptable size", ok=False)
            else:
                size = int(args[0])
                stones.clear()
                reply()
        elif cmd == "clear_board":
            stones.clear()
            reply()
        elif cmd == "komi":
            reply()
        elif cmd == "play":
            if args[1].lower() != "pass":
                stones.add(args[1].upper())
            reply()
        elif cmd == "genmove":
            genmoves += 1
            if genmoves == a.crash_at:
                sys.stderr.write("fake: deliberate crash\n")
                sys.exit(3)
            if genmoves == a.hang_at:
                time.sleep(3600)
            if genmoves == a.garbage_at:
                out.write("this is not GTP\n\n")
                out.flush()
                continue
            if genmoves == a.bad_vertex_at:
                reply("Z99")
                continue
            if genmoves == a.resign_at:
                reply("resign")
                continue
            if genmoves == a.illegal_at and stones:
                reply(sorted(stones)[0])
                continue
            if genmoves > a.pass_after:
                reply("pass")
                continue
            for r in range(size, 0, -1):
                for c in COLS[:size]:
                    v = f"{c}{r}"
                    if v not in stones:
                        stones.add(v)
                        reply(v)
                        break
                else:
                    continue
                break
            else:
                reply("pass")
        elif cmd == "quit":
            reply()
            return
        else:
            reply("unknown command", ok=False)


if __name__ == "__main__":
    main()
