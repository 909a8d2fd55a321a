"""The web server's JSON API, endpoint by endpoint, good input and bad (every bad input is a 4xx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import DoubleAnalysisPlayer
from fastapi.testclient import TestClient
from sgfmill import sgf

from gozero.play.web.server import WEAK_VISITS, Strength, create_app
from gozero.rules import Game, Rules, fixed_handicap_points
from gozero.rules import kernels as K
from gozero.rules.coords import from_gtp, to_gtp
from gozero.search.player import RESIGN, SearchLimits
from gozero.search.random_player import RandomPlayer


def client_for(tmp_path: Path, player=None, db: str = "web.sqlite", **kw) -> TestClient:
    return TestClient(create_app(player=player or DoubleAnalysisPlayer(), db_path=tmp_path / db, **kw))


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return client_for(tmp_path)


def new_game(client: TestClient, **kw) -> dict:
    body = {"size": 5, "komi": 0.5, **kw}
    r = client.post("/api/games", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def move(client: TestClient, gid: str, vertex: str, **kw) -> dict:
    r = client.post(f"/api/games/{gid}/move", json={"move": vertex, **kw})
    assert r.status_code == 200, r.text
    return r.json()


def genmove(client: TestClient, gid: str) -> dict:
    r = client.post(f"/api/games/{gid}/genmove", json={})
    assert r.status_code == 200, r.text
    return r.json()


def replay(state: dict) -> Game:
    game = Game(state["size"], Rules(komi=state["komi"]))
    for m in state["moves"]:
        game.play(from_gtp(m["vertex"], state["size"]), K.BLACK if m["color"] == "B" else K.WHITE)
    return game


# -- pages -------------------------------------------------------------------------------------------
def test_page_and_static_files_are_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "<svg id=\"board\"" in r.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/nothing.js").status_code == 404
    info = client.get("/api/info").json()
    assert info["bot"] == "double" and info["analysis"] is True


# -- new games ------------------------------------------------------------------------------------------
def test_new_game_state(client):
    st = new_game(client, size=7, komi=6.5)
    assert len(st["id"]) >= 20 and st["id"].replace("-", "").replace("_", "").isalnum()
    assert st["size"] == 7 and st["komi"] == 6.5 and st["ply"] == 0 and st["moves"] == []
    assert st["boards"] == ["." * 49] and st["to_move"] == "B" and st["human"] == "B"
    assert not st["bot_to_move"] and not st["over"] and st["analysis"] is True
    other = new_game(client, size=7)
    assert other["id"] != st["id"]


def test_playing_white_gives_the_bot_the_first_move(client):
    st = new_game(client, color="white")
    assert st["human"] == "W" and st["bot_to_move"]
    st = genmove(client, st["id"])
    assert st["ply"] == 1 and st["moves"][0]["color"] == "B" and st["moves"][0]["vertex"] == st["bot_move"]
    assert not st["bot_to_move"] and st["to_move"] == "W"


def test_handicap_stones_and_white_first(client):
    st = new_game(client, size=9, handicap=3)
    expected = {to_gtp(p, 9) for p in fixed_handicap_points(9, 3)}
    assert {s["vertex"] for s in st["setup"]} == expected and all(s["color"] == "B" for s in st["setup"])
    assert st["boards"][0].count("X") == 3
    assert st["to_move"] == "W" and st["bot_to_move"]  # the person is black, white (the bot) starts
    st = genmove(client, st["id"])
    assert st["moves"][0]["color"] == "W" and st["to_move"] == "B"


@pytest.mark.parametrize("body", [
    {"size": 1}, {"size": 20}, {"size": "nine"}, {"komi": 7.3}, {"komi": 1e9}, {"color": "red"},
    {"handicap": 1}, {"handicap": 10}, {"size": 5, "handicap": 2}, {"strength": {"visits": 0}},
    {"strength": {"seconds": -1}}, {"surprise": True}, {"strength": {"visits": 10, "extra": 1}},
])
def test_new_game_rejects_bad_settings(client, body):
    r = client.post("/api/games", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_sessions_share_one_player_and_get_their_own_limits(tmp_path):
    player = DoubleAnalysisPlayer()
    client = client_for(tmp_path, player)
    strong = new_game(client, strength={"visits": 300, "seconds": 2.5, "weak": False})["id"]
    weak = new_game(client, strength={"visits": 300, "weak": True})["id"]
    for gid in (strong, weak, strong):
        board = client.get(f"/api/games/{gid}").json()["boards"][-1]
        move(client, gid, next(to_gtp(p, 5) for p in range(25) if board[p] == "."))
        genmove(client, gid)
    (s1, t1), (w, tw), (s2, t2) = player.seen  # one player object saw every game's calls
    assert s1 == s2 == SearchLimits(visits=300, seconds=2.5) and t1 == t2 == 0.0
    assert w == SearchLimits(visits=WEAK_VISITS) and tw == 1.0
    assert not hasattr(player, "limits") and not hasattr(player, "temperature")  # nothing written into it
    assert Strength(visits=300).temperature == 0.0 and Strength(visits=300).search_visits == 300
    assert Strength(visits=None).limits == SearchLimits()  # unbounded: the player's own budget


def test_the_player_is_built_once_for_every_game(tmp_path, monkeypatch):
    import gozero.play.players as players

    built: list[DoubleAnalysisPlayer] = []

    def build_player(model=None, search=None, **kw):
        built.append(DoubleAnalysisPlayer())
        return built[-1]

    monkeypatch.setattr(players, "build_player", build_player)
    client = TestClient(create_app(db_path=tmp_path / "web.sqlite", model="some.pt"))
    for _ in range(3):
        gid = new_game(client, color="white")["id"]
        genmove(client, gid)
    assert len(built) == 1 and len(built[0].seen) == 3


# -- moves -------------------------------------------------------------------------------------------------
def test_human_move_then_bot_reply(client):
    st = new_game(client)
    gid = st["id"]
    st = move(client, gid, "c3", ply=0)
    assert st["ply"] == 1 and st["moves"] == [{"color": "B", "vertex": "C3", "point": 12}]
    assert st["boards"][1][12] == "X" and st["bot_to_move"]
    st = genmove(client, gid)
    assert st["ply"] == 2 and st["moves"][1]["color"] == "W" and not st["bot_to_move"]
    game = replay(st)
    assert "".join(".XO"[int(c)] for c in game.position.stones) == st["boards"][-1]
    assert len(st["boards"]) == 3 and len(st["captures"]) == 3


def test_bad_moves_are_4xx_with_a_message(client):
    gid = new_game(client)["id"]
    move(client, gid, "C3")
    cases = [
        ("/move", {"move": "D4"}, 409, "not your turn"),  # the bot is to move
    ]
    for suffix, body, status, text in cases:
        r = client.post(f"/api/games/{gid}{suffix}", json=body)
        assert r.status_code == status and text in r.json()["detail"]
    st = genmove(client, gid)
    r = client.post(f"/api/games/{gid}/genmove", json={})
    assert r.status_code == 409 and "your turn" in r.json()["detail"]
    r = client.post(f"/api/games/{gid}/move", json={"move": "C3"})
    assert r.status_code == 400 and "occupied" in r.json()["detail"]
    for vertex in ("F1", "A6", "Z9", "A0", "I3", "11", "xyz", "C-1"):
        r = client.post(f"/api/games/{gid}/move", json={"move": vertex})
        assert r.status_code == 400, (vertex, r.text)
        assert r.json()["detail"]
    for body in ({}, {"move": ""}, {"move": 3}, {"move": "C3", "colour": "W"}, {"move": "A1", "ply": -1},
                 {"move": "A123456789"}):
        r = client.post(f"/api/games/{gid}/move", json=body)
        assert r.status_code == 422, (body, r.text)
    r = client.post(f"/api/games/{gid}/move", content=b'{"move": "C3"', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "malformed JSON" in r.json()["detail"]
    r = client.post(f"/api/games/{gid}/move", content=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post(f"/api/games/{gid}/move", json={"move": "A1", "ply": st["ply"] - 1})
    assert r.status_code == 409 and "moved on" in r.json()["detail"]
    # nothing above changed the game
    assert client.get(f"/api/games/{gid}").json()["moves"] == st["moves"]


class Scripted(DoubleAnalysisPlayer):
    """Plays the given vertices in order."""

    def __init__(self, vertices: list[str]):
        super().__init__()
        self.vertices = list(vertices)

    def genmove(self, game, limits=None, temperature=None):
        return from_gtp(self.vertices.pop(0), game.size)


def test_suicide_is_an_illegal_move(tmp_path):
    client = client_for(tmp_path, Scripted(["B5", "A4"]))
    gid = new_game(client)["id"]
    for vertex in ("E1", "E2"):
        move(client, gid, vertex)
        genmove(client, gid)
    r = client.post(f"/api/games/{gid}/move", json={"move": "A5"})
    assert r.status_code == 400 and "illegal" in r.json()["detail"]
    assert client.get(f"/api/games/{gid}").json()["ply"] == 4


def test_review_games_take_no_moves(client):
    st = client.post("/api/games/import", json={"sgf": "(;GM[1]SZ[5]KM[0.5];B[ba];W[ee])"}).json()
    assert st["mode"] == "review" and st["to_move"] == "B" and st["ply"] == 2
    r = client.post(f"/api/games/{st['id']}/move", json={"move": "A1"})
    assert r.status_code == 409 and "review" in r.json()["detail"]


def test_unknown_game_ids(client):
    for path in ("/api/games/AAAAAAAAAAAAAAAAAAAAAA", "/api/games/AAAAAAAAAAAAAAAAAAAAAA/sgf"):
        r = client.get(path)
        assert r.status_code == 404 and "no game" in r.json()["detail"]
    for suffix, body in (("move", {"move": "C3"}), ("genmove", {}), ("undo", {}), ("resign", {}),
                         ("analyze", {}), ("dead", {"vertex": "C3"})):
        r = client.post(f"/api/games/AAAAAAAAAAAAAAAAAAAAAA/{suffix}", json=body)
        assert r.status_code == 404, (suffix, r.text)
    assert client.get("/api/games/..%2F..%2Fetc").status_code in (404, 422)
    assert client.get("/api/games/a b").status_code == 422


# -- the end of a game -------------------------------------------------------------------------------------
def play_out(client: TestClient, gid: str) -> dict:
    """The person passes at every turn until the game ends (the double passes when only eyes are left)."""
    st = client.get(f"/api/games/{gid}").json()
    for _ in range(200):
        if st["over"]:
            return st
        st = genmove(client, gid) if st["bot_to_move"] else move(client, gid, "pass")
    raise AssertionError("the game did not end")


def test_two_passes_end_and_score_the_game(client):
    gid = new_game(client)["id"]
    move(client, gid, "C3")
    st = play_out(client, gid)
    assert st["over"] and st["moves"][-1]["vertex"] == "pass" and st["moves"][-2]["vertex"] == "pass"
    game = replay(st)
    dead = np.zeros(25, bool)
    dead[[from_gtp(v, 5) for v in st["dead"]]] = True
    assert st["result"] == game.result_string(dead)
    assert st["score"] == pytest.approx(game.score(dead))
    assert len(st["territory"]) == 25
    for suffix, body in (("move", {"move": "A1"}), ("genmove", {}), ("resign", {})):
        r = client.post(f"/api/games/{gid}/{suffix}", json=body)
        assert r.status_code == 409 and "over" in r.json()["detail"]


def test_dead_stones_come_from_the_ownership_estimate(tmp_path):
    def black_owns_all(game: Game) -> np.ndarray:  # + for the side to move
        return np.full(game.position.geo.nn, 0.9 if game.to_move == K.BLACK else -0.9)

    client = client_for(tmp_path, DoubleAnalysisPlayer(ownership=black_owns_all))
    gid = new_game(client)["id"]
    move(client, gid, "C3")
    st = play_out(client, gid)
    final = st["boards"][-1]
    whites = {to_gtp(p, 5) for p in range(25) if final[p] == "O"}
    assert whites and set(st["dead"]) == whites  # every white group is dead, no black one
    game = replay(st)
    dead = np.array([c == "O" for c in final])
    assert st["result"] == game.result_string(dead)
    assert st["score"] > game.score()  # the white stones no longer count for white
    # marking a group alive again rescores the game
    one = sorted(whites)[0]
    r = client.post(f"/api/games/{gid}/dead", json={"vertex": one})
    assert r.status_code == 200
    after = r.json()
    assert one not in after["dead"] and after["score"] < st["score"]
    assert client.post(f"/api/games/{gid}/dead", json={"vertex": one}).json()["score"] == st["score"]


def test_tromp_taylor_rules_count_every_stone(tmp_path):
    def black_owns_all(game: Game) -> np.ndarray:
        return np.full(game.position.geo.nn, 0.9 if game.to_move == K.BLACK else -0.9)

    player = DoubleAnalysisPlayer(ownership=black_owns_all)
    client = client_for(tmp_path, player, rules=Rules(scoring="tromp_taylor"))
    assert client.get("/api/info").json()["scoring"] == "tromp_taylor"
    gid = new_game(client)["id"]
    move(client, gid, "C3")
    st = play_out(client, gid)
    assert "O" in st["boards"][-1] and st["dead"] == []  # the same position as above, no stone removed
    assert st["result"] == replay(st).result_string()
    assert not [c for c in player.calls if c[0] == "analyze"]  # no ownership asked for to score


def test_dead_endpoint_refuses_bad_requests(client):
    gid = new_game(client)["id"]
    r = client.post(f"/api/games/{gid}/dead", json={"vertex": "C3"})
    assert r.status_code == 409 and "two passes" in r.json()["detail"]
    move(client, gid, "C3")
    st = play_out(client, gid)
    empty = next(to_gtp(p, 5) for p in range(25) if st["boards"][-1][p] == ".")
    r = client.post(f"/api/games/{gid}/dead", json={"vertex": empty})
    assert r.status_code == 400 and "no stone" in r.json()["detail"]
    assert client.post(f"/api/games/{gid}/dead", json={"vertex": "Q17"}).status_code == 400


def test_resign_and_bot_resignation(tmp_path):
    client = client_for(tmp_path)
    gid = new_game(client)["id"]
    st = client.post(f"/api/games/{gid}/resign", json={}).json()
    assert st["over"] and st["result"] == "W+R" and st["score"] is None
    assert client.post(f"/api/games/{gid}/undo", json={}).status_code == 409

    class Resigner(DoubleAnalysisPlayer):
        def genmove(self, game, limits=None, temperature=None):
            return RESIGN

    client = client_for(tmp_path, Resigner(), db="other.sqlite")
    gid = new_game(client, color="white")["id"]
    st = genmove(client, gid)
    assert st["bot_move"] == "resign" and st["result"] == "W+R" and st["ply"] == 0


def test_bot_failures_are_reported_not_crashed(tmp_path):
    class Broken(DoubleAnalysisPlayer):
        def genmove(self, game, limits=None, temperature=None):
            raise RuntimeError("network on fire")

    class Cheater(DoubleAnalysisPlayer):
        def genmove(self, game, limits=None, temperature=None):
            return int(np.flatnonzero(game.position.stones)[0]) if game.moves else 0

    client = client_for(tmp_path, Broken())
    gid = new_game(client, color="white")["id"]
    r = client.post(f"/api/games/{gid}/genmove", json={})
    assert r.status_code == 503 and "network on fire" in r.json()["detail"]
    client = client_for(tmp_path, Cheater(), db="cheat.sqlite")
    gid = new_game(client)["id"]
    move(client, gid, "C3")
    r = client.post(f"/api/games/{gid}/genmove", json={})
    assert r.status_code == 503 and "illegal" in r.json()["detail"]
    assert client.get(f"/api/games/{gid}").json()["ply"] == 1


# -- undo ---------------------------------------------------------------------------------------------------
def test_undo_takes_back_the_persons_move_and_the_reply(client):
    gid = new_game(client)["id"]
    r = client.post(f"/api/games/{gid}/undo", json={})
    assert r.status_code == 409 and "no move" in r.json()["detail"]
    move(client, gid, "C3")
    first = genmove(client, gid)
    move(client, gid, "B2")
    genmove(client, gid)
    client.post(f"/api/games/{gid}/analyze", json={"ply": 4})
    st = client.post(f"/api/games/{gid}/undo", json={}).json()
    assert st["moves"] == first["moves"] and st["boards"] == first["boards"] and st["to_move"] == "B"
    assert all(e["ply"] <= 2 for e in st["evals"])
    st = client.post(f"/api/games/{gid}/undo", json={}).json()
    assert st["ply"] == 0 and st["boards"] == ["." * 25]
    # after an undo the game goes on normally
    st = move(client, gid, "B2")
    assert st["boards"][1][from_gtp("B2", 5)] == "X"


def test_undo_reopens_a_finished_game(client):
    gid = new_game(client)["id"]
    move(client, gid, "C3")
    st = play_out(client, gid)
    st = client.post(f"/api/games/{gid}/undo", json={}).json()
    assert not st["over"] and st["result"] is None and st["dead"] == [] and st["ply"] < 200


# -- analysis --------------------------------------------------------------------------------------------------
def test_analysis_of_the_current_and_earlier_positions(client):
    gid = new_game(client)["id"]
    move(client, gid, "C3")
    genmove(client, gid)
    r = client.post(f"/api/games/{gid}/analyze", json={"visits": 40})
    assert r.status_code == 200, r.text
    an = r.json()
    assert an["ply"] == 2 and an["to_move"] == "B" and an["visits"] == 40
    assert len(an["policy"]) == 26 and abs(sum(an["policy"]) - 1) < 1e-2
    assert len(an["ownership"]) == 25 and all(-1 <= x <= 1 for x in an["ownership"])
    # ownership is from black's side: C3 (a black stone) is black's
    assert an["ownership"][from_gtp("C3", 5)] > 0
    assert an["moves"] and an["moves"][0]["visits"] >= an["moves"][-1]["visits"]
    for m in an["moves"]:
        assert an["policy"][from_gtp(m["vertex"], 5)] > 0 and m["pv"]
    assert an["winrate"] == pytest.approx(0.55)  # the double's root value, black to move
    an0 = client.post(f"/api/games/{gid}/analyze", json={"ply": 1}).json()
    assert an0["to_move"] == "W" and an0["winrate"] == pytest.approx(0.45) and an0["score_lead"] == -1.5
    assert an0["ownership"][from_gtp("C3", 5)] > 0  # still black's, though white is to move
    evals = client.get(f"/api/games/{gid}").json()["evals"]
    assert [e["ply"] for e in evals] == [1, 2]


def test_analysis_bad_requests(tmp_path, client):
    gid = new_game(client)["id"]
    r = client.post(f"/api/games/{gid}/analyze", json={"ply": 5})
    assert r.status_code == 400 and "past the end" in r.json()["detail"]
    for body in ({"ply": -1}, {"visits": 0}, {"visits": "many"}, {"depth": 3}):
        assert client.post(f"/api/games/{gid}/analyze", json=body).status_code == 422
    rnd = client_for(tmp_path, RandomPlayer(0), db="random.sqlite")
    st = new_game(rnd)
    assert st["analysis"] is False
    r = rnd.post(f"/api/games/{st['id']}/analyze", json={})
    assert r.status_code == 409 and "analysis needs a model" in r.json()["detail"]


# -- SGF ------------------------------------------------------------------------------------------------------------
def test_sgf_download_parses_with_the_moves(client):
    gid = new_game(client, size=9, handicap=2, komi=0.5)["id"]
    st = genmove(client, gid)
    st = move(client, gid, "E5")
    st = genmove(client, gid)
    st = move(client, gid, "pass")
    r = client.get(f"/api/games/{gid}/sgf")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.headers["content-type"].startswith("application/x-go-sgf")
    game = sgf.Sgf_game.from_bytes(r.content)
    assert game.get_size() == 9 and game.get_komi() == 0.5 and game.get_handicap() == 2
    moves = []
    for node in game.get_main_sequence()[1:]:
        colour, point = node.get_move()
        moves.append((colour.upper(), "pass" if point is None else to_gtp((8 - point[0]) * 9 + point[1], 9)))
    assert moves == [(m["color"], m["vertex"]) for m in st["moves"]]
    root = game.get_root()
    assert root.get("PB") == "You" and root.get("PW") == "gozero"
    assert len(root.get("AB")) == 2


def test_import_sgf_for_review(client):
    gid = new_game(client)["id"]
    move(client, gid, "C3")
    genmove(client, gid)
    move(client, gid, "B2")
    text = client.get(f"/api/games/{gid}/sgf").text
    st = client.post("/api/games/import", json={"sgf": text}).json()
    assert st["mode"] == "review" and st["id"] != gid and st["human"] is None and not st["bot_to_move"]
    original = client.get(f"/api/games/{gid}").json()
    assert st["moves"] == original["moves"] and st["boards"] == original["boards"]
    an = client.post(f"/api/games/{st['id']}/analyze", json={"ply": 1})
    assert an.status_code == 200
    for suffix in ("genmove", "undo", "resign"):
        assert client.post(f"/api/games/{st['id']}/{suffix}", json={}).status_code == 409


@pytest.mark.parametrize("text", ["not an sgf", "(;GM[1]SZ[5];B[cc];W[cc])", "(;GM[2]SZ[5])", "(;SZ[25])",
                                  "(;SZ[5];B[zz])"])
def test_import_rejects_bad_sgf(client, text):
    r = client.post("/api/games/import", json={"sgf": text})
    assert r.status_code == 400 and r.json()["detail"].startswith("cannot load file: ")


def test_import_gives_the_readers_message_and_warnings(client):
    r = client.post("/api/games/import", json={"sgf": "(;GM[1]SZ[5]C[x];B[cc];C[hm];W[bb];B[bb])"})
    assert r.status_code == 400
    assert r.json()["detail"] == "cannot load file: node 4: move 3 (B at bb): illegal move: point occupied"
    # a review file: two games, the first setting up stones after move 2 and passing as tt
    text = "(;GM[1]SZ[5]KM[0.5];B[cc];W[bb];AE[cc]AB[dd];W[tt];B[bd])\n(;GM[1]SZ[5];B[aa])"
    st = client.post("/api/games/import", json={"sgf": text}).json()
    assert st["mode"] == "review"
    assert [(m["color"], m["vertex"]) for m in st["moves"]] == [("W", "pass"), ("B", "B2")]
    assert sorted((s["color"], s["vertex"]) for s in st["setup"]) == [("B", "D2"), ("W", "B4")]
    assert any("2 games" in w for w in st["warnings"]) and any("setup stones after move 2" in w
                                                                 for w in st["warnings"])


def test_import_body_validation(client):
    assert client.post("/api/games/import", json={"sgf": ""}).status_code == 422
    assert client.post("/api/games/import", json={"text": "(;)"}).status_code == 422
    assert client.post("/api/games/import", json={"sgf": "(" * 1_000_001}).status_code == 422


# -- persistence ----------------------------------------------------------------------------------------------
def test_games_survive_a_restart(tmp_path):
    first = client_for(tmp_path)
    gid = new_game(first)["id"]
    move(first, gid, "C3")
    genmove(first, gid)
    first.post(f"/api/games/{gid}/analyze", json={})
    before = first.get(f"/api/games/{gid}").json()
    second = client_for(tmp_path)  # a new app (new memory) over the same database
    after = second.get(f"/api/games/{gid}").json()
    for key in ("moves", "boards", "captures", "evals", "to_move", "strength", "komi", "size"):
        assert after[key] == before[key], key
    st = move(second, gid, "B2")
    assert st["ply"] == 3
    assert client_for(tmp_path).get(f"/api/games/{gid}").json()["ply"] == 3
