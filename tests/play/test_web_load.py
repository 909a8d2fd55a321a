"""Load on loopback: 20 games played at once over real HTTP, with no errors and no lost moves."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import DoubleAnalysisPlayer

from gozero.play.web.store import GameStore
from gozero.rules import kernels as K
from gozero.rules.coords import to_gtp

GAMES = 20
HUMAN_MOVES = 6
BOT_DELAY = 0.05  # seconds each bot move "thinks", so that games overlap


class CountingDouble(DoubleAnalysisPlayer):
    """The double, counting how many of its genmoves run at the same time (over all games)."""

    active = 0
    peak = 0
    lock = threading.Lock()

    def genmove(self, game, limits=None, temperature=None):
        cls = CountingDouble
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        try:
            return super().genmove(game, limits, temperature)
        finally:
            with cls.lock:
                cls.active -= 1


def play_one_game(url: str) -> tuple[str, list[tuple[str, str]], list[int]]:
    """A person's side of a game: click empty points in order, let the bot answer, then pass twice."""
    unexpected: list[int] = []
    sent: list[tuple[str, str]] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        st = http.post("/api/games", json={"size": 5, "komi": 0.5, "strength": {"visits": 8}}).json()
        gid = st["id"]
        for _ in range(HUMAN_MOVES):
            if st["over"]:
                break
            for p in range(25):
                if st["boards"][-1][p] != ".":
                    continue
                r = http.post(f"/api/games/{gid}/move", json={"move": to_gtp(p, 5), "ply": st["ply"]})
                if r.status_code == 400:  # suicide or ko: the next point
                    continue
                if r.status_code != 200:
                    unexpected.append(r.status_code)
                st = r.json()
                sent.append(("B", to_gtp(p, 5)))
                break
            r = http.post(f"/api/games/{gid}/genmove", json={"ply": st["ply"]})
            if r.status_code != 200:
                unexpected.append(r.status_code)
                break
            st = r.json()
            sent.append(("W", st["bot_move"]))
        final = http.get(f"/api/games/{gid}")
        if final.status_code != 200:
            unexpected.append(final.status_code)
        got = [(m["color"], m["vertex"]) for m in final.json()["moves"]]
        if got != sent:
            unexpected.append(-1)
    return gid, sent, unexpected


@pytest.mark.slow
def test_twenty_concurrent_games(live_server, tmp_path):
    CountingDouble.active = CountingDouble.peak = 0
    db = tmp_path / "load.sqlite"
    srv = live_server(CountingDouble(delay=BOT_DELAY), db)
    start = time.perf_counter()
    with ThreadPoolExecutor(GAMES) as pool:
        futures = [pool.submit(play_one_game, srv.url) for _ in range(GAMES)]
        results = [f.result(timeout=240) for f in futures]
    elapsed = time.perf_counter() - start
    moves = sum(len(sent) for _, sent, _ in results)
    print(f"\n{GAMES} games, {moves} moves in {elapsed:.2f} s ({moves / elapsed:.0f} moves/s), "
          f"peak concurrent bot moves {CountingDouble.peak}")
    assert all(not bad for _, _, bad in results), [bad for _, _, bad in results if bad]
    assert len({gid for gid, _, _ in results}) == GAMES
    store = GameStore(db)
    assert store.count() == GAMES
    for gid, sent, _ in results:
        assert len(sent) == 2 * HUMAN_MOVES
        rec = store.load(gid)
        assert [("B" if c == K.BLACK else "W", to_gtp(m, 5)) for c, m in rec.moves] == sent
    # bot moves ran off the event loop: several games were thinking at the same time
    assert CountingDouble.peak >= 2


def test_simultaneous_clicks_on_one_game_play_once(live_server):
    srv = live_server(DoubleAnalysisPlayer())
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        gid = http.post("/api/games", json={"size": 5}).json()["id"]

        def click(vertex: str) -> int:
            with httpx.Client(base_url=srv.url, timeout=30) as own:
                return own.post(f"/api/games/{gid}/move", json={"move": vertex, "ply": 0}).status_code

        with ThreadPoolExecutor(10) as pool:
            codes = list(pool.map(click, ["A1", "B2", "C3", "D4", "E5"] * 2))
        assert codes.count(200) == 1 and all(c == 409 for c in codes if c != 200)
        st = http.get(f"/api/games/{gid}").json()
        assert st["ply"] == 1 and st["boards"][1].count("X") == 1
