"""The web page in a real browser (Debian's chromium driven by Playwright): play, analyse, download, review.

A whole 5x5 game is played by clicking against the deterministic test double, passed to
the end and scored; analysis shows the heat map and candidates; the downloaded SGF parses
with the game's moves and loads back for review; a reload keeps the game. Screenshots of
the board go to test-artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from conftest import DoubleAnalysisPlayer
from sgfmill import sgf

from gozero.rules.coords import to_gtp

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [pytest.mark.slow]


@pytest.fixture
def browser_page(tmp_path, missing_engine):
    if not CHROMIUM.exists():
        missing_engine("/usr/bin/chromium is absent (apt-get install chromium)")
    try:
        import playwright.sync_api as playwright
    except ImportError:
        missing_engine("playwright is not installed (pip install -e '.[dev]')")
    with playwright.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=ARGS, headless=True,
            accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(20_000)
        yield page, errors
        context.close()


def wait_idle(page) -> None:
    """Until the page waits for the person (or the game is over)."""
    page.wait_for_function(
        "() => { const s = document.getElementById('status').textContent;"
        " return s.startsWith('Your move') || s.startsWith('Game over'); }")


def occupied(page) -> set[str]:
    return set(page.eval_on_selector_all("#board g.stone", "els => els.map(e => e.dataset.vertex)"))


def test_play_a_game_analyse_and_download(live_server, browser_page, tmp_path):
    page, errors = browser_page
    srv = live_server(DoubleAnalysisPlayer())
    page.goto(srv.url)
    page.select_option("#size", "5")
    page.fill("#komi", "0.5")
    page.fill("#visits", "4")
    page.click("#start")
    page.wait_for_selector("#board .pt >> nth=24")
    assert page.locator("#board .pt").count() == 25
    game_id = page.evaluate("location.hash.slice(1)")
    assert len(game_id) >= 20

    # a few moves by clicking; the bot answers each
    for _ in range(3):
        wait_idle(page)
        taken = occupied(page)
        free = next(to_gtp(p, 5) for p in (12, 6, 18, 8, 16, 0, 4, 20, 24) if to_gtp(p, 5) not in taken)
        page.click(f'#board .pt[data-vertex="{free}"]')
        page.wait_for_selector(f'#board g.stone[data-vertex="{free}"]')
    wait_idle(page)
    assert page.locator("#last-move").count() == 1

    # analysis: heat map, candidate moves, ownership, the table
    page.check("#analysis-toggle")
    page.wait_for_selector("#board .heat")
    page.wait_for_selector("#board .cand")
    assert page.locator("#candidates tbody tr").count() >= 1
    assert page.locator("#board .own").count() >= 1
    assert "visits" in page.text_content("#analysis-summary")
    page.uncheck("#analysis-toggle")
    assert page.locator("#board .heat").count() == 0

    # pass until the game ends; the score is shown
    for _ in range(60):
        wait_idle(page)
        # the game may have just ended (pass disabled) a moment before the result is drawn
        page.wait_for_function("() => document.getElementById('result').textContent.trim() !== ''"
                               " || !document.getElementById('pass').disabled")
        if page.text_content("#result").strip():
            break
        page.click("#pass")
        page.wait_for_function("() => document.getElementById('status').textContent !== ''")
    result = page.text_content("#result")
    state = httpx.get(f"{srv.url}/api/games/{game_id}").json()
    assert state["over"] and state["result"] and result.startswith(state["result"])
    assert re.search(r"wins by [\d.]+ points|Jigo", result)
    moves_label = page.text_content("#ply-label")
    assert moves_label == f"move {state['ply']} / {state['ply']}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#board").screenshot(path=str(ARTIFACTS / "board-end.png"))

    # the heat map of the empty board, back at move 0
    page.check("#analysis-toggle")
    page.keyboard.press("Home")
    assert page.text_content("#ply-label").startswith("move 0 /")
    page.wait_for_function("() => document.querySelectorAll('#board .heat').length >= 10")
    page.locator("#board").screenshot(path=str(ARTIFACTS / "board-analysis.png"))
    page.screenshot(path=str(ARTIFACTS / "page.png"))

    # the SGF download parses with the game's moves
    with page.expect_download() as info:
        page.click("#download-sgf")
    sgf_path = tmp_path / "game.sgf"
    info.value.save_as(sgf_path)
    record = sgf.Sgf_game.from_bytes(sgf_path.read_bytes())
    got = []
    for node in record.get_main_sequence()[1:]:
        colour, point = node.get_move()
        got.append((colour.upper(), "pass" if point is None else to_gtp((4 - point[0]) * 5 + point[1], 5)))
    assert got == [(m["color"], m["vertex"]) for m in state["moves"]]
    assert record.get_root().get("RE") == state["result"]

    # a reload shows the same game
    page.reload()
    page.wait_for_function(f"() => document.getElementById('ply-label').textContent === '{moves_label}'")
    assert page.text_content("#result").startswith(state["result"])

    # loading the SGF opens it for review, stepping with the keys
    page.set_input_files("#sgf-file", str(sgf_path))
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Reviewing')")
    assert page.text_content("#ply-label") == f"move 0 / {state['ply']}"
    page.keyboard.press("ArrowRight")
    assert page.text_content("#ply-label") == f"move 1 / {state['ply']}"
    assert page.locator("#board g.stone").count() == 1
    assert not errors, errors


def test_random_bot_page_says_analysis_needs_a_model(live_server, browser_page):
    from gozero.search.random_player import RandomPlayer

    page, errors = browser_page
    srv = live_server(RandomPlayer(0))
    page.goto(srv.url)
    page.select_option("#size", "5")
    page.select_option("#color", "white")
    page.click("#start")
    page.wait_for_selector("#board g.stone")  # the bot (black) opened
    wait_idle(page)
    assert "analysis needs a model" in page.text_content("#analysis-summary")
    assert page.is_disabled("#analysis-toggle")
    # a click on an occupied point is refused with a message, nothing is sent
    stone = page.eval_on_selector("#board g.stone", "e => e.dataset.vertex")
    page.click(f'#board .pt[data-vertex="{stone}"]')
    assert "occupied" in page.text_content("#message")
    # a move, the bot's answer, then undo takes both back
    free = next(to_gtp(p, 5) for p in range(25) if to_gtp(p, 5) not in occupied(page))
    page.click(f'#board .pt[data-vertex="{free}"]')
    page.wait_for_function("() => document.getElementById('ply-label').textContent === 'move 3 / 3'")
    wait_idle(page)
    page.click("#undo")
    page.wait_for_function("() => document.getElementById('ply-label').textContent === 'move 1 / 1'")
    assert page.locator("#board g.stone").count() == 1
    assert not errors, errors
