// gozero's web page: draws the board in SVG, talks to the JSON API under /api, keeps the game id in the URL.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const COLS = "ABCDEFGHJKLMNOPQRST";
const $ = (id) => document.getElementById(id);

const ui = {
  game: null,          // the server's state of the game
  view: 0,             // the ply shown
  busy: false,         // a request that changes the game is in flight
  analysis: new Map(), // ply -> analysis
  analyzing: false,    // the "Analyse game" loop runs
  hover: null,
};

// -- talking to the server ---------------------------------------------------------------------------
async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = new Error((data && data.detail) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

function say(text, kind) {
  const m = $("message");
  m.textContent = text || "";
  m.className = kind || "";
}

function vertexOf(point, size) {
  const r = Math.floor(point / size), c = point % size;
  return COLS[c] + (size - r);
}

function pointOf(vertex, size) {
  if (!vertex || vertex === "pass" || vertex === "resign") return null;
  const c = COLS.indexOf(vertex[0].toUpperCase());
  const r = size - parseInt(vertex.slice(1), 10);
  return r * size + c;
}

function starPoints(size) {
  if (size < 7) return size === 5 ? [[2, 2]] : [];
  const e = size < 13 ? 2 : 3, m = (size - 1) / 2, f = size - 1 - e;
  const pts = [[e, e], [e, f], [f, e], [f, f]];
  if (size % 2 === 1 && size >= 9) pts.push([m, m]);
  if (size % 2 === 1 && size >= 13) pts.push([e, m], [f, m], [m, e], [m, f]);
  return pts;
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

// -- the board -----------------------------------------------------------------------------------------
function boardDefs(svg) {
  const defs = el("defs", {}, svg);
  const wood = el("linearGradient", {id: "wood", x1: "0", y1: "0", x2: "1", y2: "1"}, defs);
  el("stop", {offset: "0", "stop-color": "#e9c27c"}, wood);
  el("stop", {offset: ".55", "stop-color": "#dcae62"}, wood);
  el("stop", {offset: "1", "stop-color": "#cf9d51"}, wood);
  const grain = el("pattern", {id: "grain", width: "3", height: ".37", patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(4)"}, defs);
  el("rect", {width: "3", height: ".37", fill: "transparent"}, grain);
  el("path", {d: "M0 .12 Q1.5 .02 3 .14", stroke: "rgba(120,75,20,.10)", "stroke-width": ".03", fill: "none"}, grain);
  const bs = el("radialGradient", {id: "blackStone", cx: ".35", cy: ".3", r: ".75"}, defs);
  el("stop", {offset: "0", "stop-color": "#6b6b6b"}, bs);
  el("stop", {offset: ".35", "stop-color": "#2a2a2a"}, bs);
  el("stop", {offset: "1", "stop-color": "#050505"}, bs);
  const ws = el("radialGradient", {id: "whiteStone", cx: ".35", cy: ".3", r: ".8"}, defs);
  el("stop", {offset: "0", "stop-color": "#ffffff"}, ws);
  el("stop", {offset: ".7", "stop-color": "#ecebe6"}, ws);
  el("stop", {offset: "1", "stop-color": "#c4c1b8"}, ws);
  const blur = el("filter", {id: "shadow", x: "-50%", y: "-50%", width: "200%", height: "200%"}, defs);
  el("feGaussianBlur", {stdDeviation: ".05"}, blur);
}

function drawBoard() {
  const g = ui.game, svg = $("board");
  svg.innerHTML = "";
  if (!g) return;
  const n = g.size, PAD = 1.0, W = n - 1 + 2 * PAD;
  svg.setAttribute("viewBox", `0 0 ${W} ${W}`);
  boardDefs(svg);
  el("rect", {x: 0, y: 0, width: W, height: W, rx: .12, fill: "url(#wood)"}, svg);
  el("rect", {x: 0, y: 0, width: W, height: W, rx: .12, fill: "url(#grain)"}, svg);
  const X = (c) => c + PAD, Y = (r) => r + PAD;
  const grid = el("g", {stroke: "#4a3418", "stroke-width": .03, "stroke-linecap": "square"}, svg);
  for (let i = 0; i < n; i++) {
    el("line", {x1: X(0), y1: Y(i), x2: X(n - 1), y2: Y(i)}, grid);
    el("line", {x1: X(i), y1: Y(0), x2: X(i), y2: Y(n - 1)}, grid);
  }
  el("rect", {x: X(0), y: Y(0), width: n - 1, height: n - 1, fill: "none", stroke: "#4a3418",
    "stroke-width": .05}, svg);
  for (const [r, c] of starPoints(n)) el("circle", {cx: X(c), cy: Y(r), r: .09, fill: "#4a3418"}, svg);
  for (let i = 0; i < n; i++) {
    for (const [x, y, t] of [[X(i), .27, COLS[i]], [X(i), W - .27, COLS[i]], [.27, Y(i), n - i], [W - .27, Y(i), n - i]]) {
      const txt = el("text", {x, y, class: "coord"}, svg);
      txt.textContent = t;
    }
  }

  const stones = g.boards[ui.view];
  const an = ui.showAnalysis() ? ui.analysis.get(ui.view) : null;
  const over = g.over && ui.view === g.ply;
  const dead = new Set(over ? g.dead.map((v) => pointOf(v, n)) : []);

  // ownership (analysis) or territory (scored end) under the stones
  const shade = el("g", {class: "ownership"}, svg);
  if (over && g.territory) {
    for (let p = 0; p < n * n; p++) {
      const t = g.territory[p];
      if (t === "." || (stones[p] !== "." && !dead.has(p))) continue;
      const r = Math.floor(p / n), c = p % n;
      el("rect", {x: X(c) - .17, y: Y(r) - .17, width: .34, height: .34, class: "terr",
        fill: t === "B" ? "#111" : "#fafafa", stroke: t === "B" ? "none" : "#777", "stroke-width": .02}, shade);
    }
  } else if (an && an.ownership && $("show-ownership").checked) {
    for (let p = 0; p < n * n; p++) {
      const o = an.ownership[p], r = Math.floor(p / n), c = p % n;
      if (Math.abs(o) < .05) continue;
      el("rect", {x: X(c) - .5, y: Y(r) - .5, width: 1, height: 1, class: "own",
        fill: o > 0 ? "#000" : "#fff", "fill-opacity": Math.min(.55, Math.abs(o) * .55)}, shade);
    }
  }

  // policy heat map on empty points
  if (an && an.policy && $("show-policy").checked) {
    const heat = el("g", {class: "heatmap"}, svg);
    const top = Math.max(...an.policy.slice(0, n * n), 1e-9);
    const shown = new Set($("show-moves").checked ? an.moves.map((m) => m.point) : []);
    for (let p = 0; p < n * n; p++) {
      const v = an.policy[p];
      if (stones[p] !== "." || v < .002 || shown.has(p)) continue;
      const t = v / top, r = Math.floor(p / n), c = p % n;
      el("rect", {x: X(c) - .5 + .06, y: Y(r) - .5 + .06, width: .88, height: .88, rx: .12, class: "heat",
        fill: `hsl(${Math.round(220 - 220 * t)}, 80%, 52%)`, "fill-opacity": .12 + .5 * t * t}, heat);
    }
  }

  // stones with shadows
  const layer = el("g", {class: "stones"}, svg);
  for (let p = 0; p < n * n; p++) {
    const s = stones[p];
    if (s === ".") continue;
    const r = Math.floor(p / n), c = p % n;
    const g2 = el("g", {class: "stone " + (s === "X" ? "black" : "white"), "data-vertex": vertexOf(p, n),
      opacity: dead.has(p) ? .45 : 1}, layer);
    el("circle", {cx: X(c) + .05, cy: Y(r) + .07, r: .47, fill: "rgba(0,0,0,.45)", filter: "url(#shadow)"}, g2);
    el("circle", {cx: X(c), cy: Y(r), r: .47, fill: s === "X" ? "url(#blackStone)" : "url(#whiteStone)",
      stroke: s === "X" ? "#000" : "#9a978f", "stroke-width": .02}, g2);
    if (dead.has(p)) {
      const k = .18, col = s === "X" ? "#fff" : "#000";
      el("path", {d: `M${X(c) - k} ${Y(r) - k}L${X(c) + k} ${Y(r) + k}M${X(c) + k} ${Y(r) - k}L${X(c) - k} ${Y(r) + k}`,
        stroke: col, "stroke-width": .06, class: "dead-mark"}, g2);
    }
  }

  // last move marker
  if (ui.view > 0) {
    const last = g.moves[ui.view - 1];
    if (last.point !== null) {
      const r = Math.floor(last.point / n), c = last.point % n;
      el("circle", {cx: X(c), cy: Y(r), r: .2, fill: "none", id: "last-move",
        stroke: stones[last.point] === "X" ? "#fff" : "#000", "stroke-width": .06}, svg);
    }
  }

  // candidate moves of the analysis
  if (an && an.moves && $("show-moves").checked) {
    const cg = el("g", {class: "candidates"}, svg);
    const best = an.moves.length ? an.moves[0].visits : 0;
    an.moves.forEach((m, i) => {
      if (m.point === null || stones[m.point] !== "." || (i > 0 && m.visits < Math.max(1, best * .05))) return;
      const r = Math.floor(m.point / n), c = m.point % n;
      const fill = i === 0 ? "#3bd16f" : (m.visits > best * .3 ? "#9fe060" : "#f2d35c");
      el("circle", {cx: X(c), cy: Y(r), r: .44, fill, "fill-opacity": .9, stroke: "#333", "stroke-width": .02,
        class: "cand", "data-vertex": m.vertex}, cg);
      const t1 = el("text", {x: X(c), y: Y(r) - .12, class: "cand-text", fill: "#111"}, cg);
      t1.textContent = `${Math.round(100 * m.winrate)}%`;
      const t2 = el("text", {x: X(c), y: Y(r) + .15, class: "cand-text", fill: "#333"}, cg);
      t2.textContent = m.visits >= 1000 ? `${(m.visits / 1000).toFixed(1)}k` : `${m.visits}`;
    });
  }

  // ghost stone under the pointer, then the click targets on top
  ui.ghost = el("circle", {r: .47, class: "ghost", visibility: "hidden",
    fill: g.to_move === "B" ? "url(#blackStone)" : "url(#whiteStone)"}, svg);
  const hits = el("g", {class: "points"}, svg);
  for (let p = 0; p < n * n; p++) {
    const r = Math.floor(p / n), c = p % n;
    const rect = el("rect", {x: X(c) - .5, y: Y(r) - .5, width: 1, height: 1, class: "pt",
      "data-vertex": vertexOf(p, n)}, hits);
    rect.addEventListener("click", () => onPointClick(p));
    rect.addEventListener("mouseenter", () => showGhost(p));
  }
  hits.addEventListener("mouseleave", () => ui.ghost && ui.ghost.setAttribute("visibility", "hidden"));
  svg.classList.toggle("locked", !canPlay());
}

function showGhost(p) {
  const g = ui.game;
  if (!ui.ghost || !canPlay() || g.boards[ui.view][p] !== ".") {
    if (ui.ghost) ui.ghost.setAttribute("visibility", "hidden");
    return;
  }
  ui.ghost.setAttribute("cx", p % g.size + 1);
  ui.ghost.setAttribute("cy", Math.floor(p / g.size) + 1);
  ui.ghost.setAttribute("visibility", "visible");
}

// -- panels --------------------------------------------------------------------------------------------
function canPlay() {
  const g = ui.game;
  return !!g && g.mode === "play" && !g.over && !ui.busy && !g.bot_to_move && ui.view === g.ply;
}

function colourName(c) { return c === "B" ? "Black" : "White"; }

function describeResult(g) {
  if (!g.result) return "";
  const m = /^([BW])\+(.*)$/.exec(g.result);
  if (!m) return g.result === "0" ? "Jigo (draw)" : g.result;
  const who = colourName(m[1]);
  if (m[2] === "R") return `${who} wins by resignation`;
  if (m[2] === "T") return `${who} wins on time`;
  return `${who} wins by ${m[2]} points`;
}

function drawPanels() {
  const g = ui.game;
  if (!g) return;
  $("black-name").textContent = (g.names && g.names.black) || "Black";
  $("white-name").textContent = (g.names && g.names.white) || "White";
  const caps = g.captures[ui.view] || [0, 0];
  $("black-caps").textContent = `captures ${caps[0]}`;
  $("white-caps").textContent = `captures ${caps[1]}`;
  const res = $("result");
  res.textContent = g.over ? `${g.result} — ${describeResult(g)}` : "";
  if (g.over && g.score !== null && g.score !== undefined) {
    res.title = `area score ${g.score > 0 ? "B+" : "W+"}${Math.abs(g.score)} (komi ${g.komi})`;
  }
  $("download-sgf").href = `/api/games/${g.id}/sgf`;
  $("ply-label").textContent = `move ${ui.view} / ${g.ply}`;
  $("first").disabled = $("back").disabled = ui.view === 0;
  $("forward").disabled = $("last").disabled = ui.view === g.ply;
  const playing = g.mode === "play" && !g.over;
  $("pass").disabled = !canPlay();
  $("resign").disabled = !playing || ui.busy;
  $("undo").disabled = g.mode !== "play" || ui.busy || !g.moves.some((m) => m.color === g.human)
    || (g.over && g.result.endsWith("+R"));
  let status;
  if (g.mode === "review") status = `Reviewing a loaded game (${g.ply} moves)`;
  else if (g.over) status = g.territory ? "Game over. Click a group to mark it dead or alive." : "Game over.";
  else if (ui.busy && g.bot_to_move) status = `${g.bot} is thinking…`;
  else if (ui.view !== g.ply) status = "Viewing an earlier position; go to the last move to play.";
  else if (g.bot_to_move) status = `${colourName(g.to_move)} (${g.bot}) to play`;
  else status = `Your move (${colourName(g.to_move)})`;
  $("status").textContent = status;
  $("bot-name").textContent = `against ${g.bot}`;
  drawAnalysisPanel();
  drawGraph();
}

function drawAnalysisPanel() {
  const g = ui.game, tbody = document.querySelector("#candidates tbody");
  tbody.innerHTML = "";
  $("analysis-toggle").disabled = !g.analysis;
  $("analyze-game").disabled = !g.analysis || !ui.showAnalysis();
  $("analyze-game").textContent = ui.analyzing ? "Stop" : "Analyse game";
  if (!g.analysis) {
    $("analysis-summary").textContent = "analysis needs a model (this bot cannot analyse)";
    return;
  }
  if (!ui.showAnalysis()) {
    $("analysis-summary").textContent = "Turn analysis on to see the bot's view.";
    return;
  }
  const an = ui.analysis.get(ui.view);
  if (!an) {
    $("analysis-summary").textContent = "analysing…";
    return;
  }
  const lead = an.score_lead >= 0 ? `B+${an.score_lead.toFixed(1)}` : `W+${(-an.score_lead).toFixed(1)}`;
  $("analysis-summary").textContent =
    `Black ${(100 * an.winrate).toFixed(1)}% · ${lead} · ${an.visits} visits · ${colourName(an.to_move)} to play`;
  for (const m of an.moves.slice(0, 8)) {
    const tr = document.createElement("tr");
    const ld = m.score_lead >= 0 ? `+${m.score_lead.toFixed(1)}` : m.score_lead.toFixed(1);
    for (const t of [m.vertex, m.visits, (100 * m.winrate).toFixed(1), ld, (100 * m.prior).toFixed(1)]) {
      const td = document.createElement("td");
      td.textContent = t;
      tr.appendChild(td);
    }
    tr.title = m.pv.length ? `PV: ${m.pv.join(" ")}` : "";
    tbody.appendChild(tr);
  }
}

function drawGraph() {
  const g = ui.game, svg = $("graph");
  svg.innerHTML = "";
  const W = 300, H = 110, last = Math.max(g.ply, 1);
  const x = (ply) => (ply / last) * W;
  el("rect", {x: 0, y: 0, width: W, height: H, fill: "#fff"}, svg);
  el("line", {x1: 0, y1: H / 2, x2: W, y2: H / 2, stroke: "#ccc", "stroke-dasharray": "3 3"}, svg);
  const evals = new Map(g.evals.map((e) => [e.ply, e]));
  for (const [ply, an] of ui.analysis) if (ply <= g.ply) evals.set(ply, {winrate: an.winrate, score_lead: an.score_lead});
  const pts = [...evals.entries()].sort((a, b) => a[0] - b[0]);
  if (pts.length) {
    const maxLead = Math.max(5, ...pts.map(([, e]) => Math.abs(e.score_lead)));
    const bars = el("g", {class: "score-bars"}, svg);
    const bw = Math.max(1, W / (last + 1) * .8);
    for (const [ply, e] of pts) {
      const h = (e.score_lead / maxLead) * (H / 2 - 4);
      el("rect", {x: x(ply) - bw / 2, y: h >= 0 ? H / 2 - h : H / 2, width: bw, height: Math.abs(h),
        fill: "#d9893a", "fill-opacity": .45}, bars);
    }
    const line = pts.map(([ply, e]) => `${x(ply).toFixed(1)},${((1 - e.winrate) * (H - 8) + 4).toFixed(1)}`);
    el("polyline", {points: line.join(" "), fill: "none", stroke: "#3f6f8f", "stroke-width": 2,
      class: "winrate-line", "vector-effect": "non-scaling-stroke"}, svg);
  }
  el("line", {x1: x(ui.view), y1: 0, x2: x(ui.view), y2: H, stroke: "#a33", "stroke-width": 1,
    "vector-effect": "non-scaling-stroke"}, svg);
}

function render() {
  drawBoard();
  drawPanels();
}

ui.showAnalysis = () => !!(ui.game && ui.game.analysis && $("analysis-toggle").checked);

// -- actions -------------------------------------------------------------------------------------------
function setGame(g, keepView) {
  const fresh = !ui.game || ui.game.id !== g.id;
  if (fresh) ui.analysis.clear();
  for (const ply of [...ui.analysis.keys()]) if (ply > g.ply) ui.analysis.delete(ply);
  ui.game = g;
  ui.view = keepView ? Math.min(ui.view, g.ply) : g.ply;
  if (location.hash !== `#${g.id}`) history.replaceState(null, "", `#${g.id}`);
  localStorage.setItem("gozero-game", g.id);
  render();
  maybeAnalyse();
}

async function act(fn) {
  if (ui.busy) return;
  ui.busy = true;
  say("");
  render();
  try {
    await fn();
  } catch (e) {
    say(e.message);
  } finally {
    ui.busy = false;
    render();
  }
  await botTurn();
  maybeAnalyse();
}

async function botTurn() {
  const g = ui.game;
  if (!g || !g.bot_to_move || ui.busy) return;
  ui.busy = true;
  render();
  try {
    setGame(await api(`/api/games/${g.id}/genmove`, {ply: g.ply}));
    if (ui.game.bot_move === "pass") say(`${ui.game.bot} passes`, "info");
    if (ui.game.bot_move === "resign") say(`${ui.game.bot} resigns`, "info");
  } catch (e) {
    say(e.message);
  } finally {
    ui.busy = false;
    render();
    maybeAnalyse();
  }
}

function onPointClick(p) {
  const g = ui.game;
  if (!g) return;
  if (g.over && g.territory && ui.view === g.ply && g.boards[g.ply][p] !== ".") {
    act(async () => setGame(await api(`/api/games/${g.id}/dead`, {vertex: vertexOf(p, g.size)})));
    return;
  }
  if (!canPlay()) return;
  if (g.boards[g.ply][p] !== ".") { say(`${vertexOf(p, g.size)} is occupied`); return; }
  act(async () => setGame(await api(`/api/games/${g.id}/move`, {move: vertexOf(p, g.size), ply: g.ply})));
}

async function maybeAnalyse() {
  const g = ui.game;
  if (!ui.showAnalysis() || ui.busy || ui.analysis.has(ui.view) || ui.pending === `${g.id}:${ui.view}`) return;
  const ply = ui.view, id = g.id;
  ui.pending = `${id}:${ply}`;
  try {
    const an = await api(`/api/games/${id}/analyze`, {ply});
    if (ui.game && ui.game.id === id && ply <= ui.game.ply) ui.analysis.set(ply, an);
  } catch (e) {
    say(e.message);
  } finally {
    ui.pending = null;
  }
  if (ui.game && ui.game.id === id) {
    render();
    if (ui.view !== ply) maybeAnalyse();
  }
}

async function analyseGame() {
  if (ui.analyzing) { ui.analyzing = false; return; }
  ui.analyzing = true;
  render();
  const id = ui.game.id;
  for (let ply = 0; ply <= ui.game.ply && ui.analyzing && ui.game.id === id; ply++) {
    if (ui.analysis.has(ply)) continue;
    try {
      ui.analysis.set(ply, await api(`/api/games/${id}/analyze`, {ply}));
    } catch (e) {
      say(e.message);
      break;
    }
    drawGraph();
    if (ply === ui.view) render();
  }
  ui.analyzing = false;
  render();
}

function goTo(ply) {
  const g = ui.game;
  if (!g) return;
  ui.view = Math.max(0, Math.min(g.ply, ply));
  render();
  maybeAnalyse();
}

async function newGame(ev) {
  ev.preventDefault();
  const f = $("new-game");
  const seconds = parseFloat(f.seconds.value);
  const body = {
    size: parseInt(f.size.value, 10), komi: parseFloat(f.komi.value), color: f.color.value,
    handicap: parseInt(f.handicap.value, 10),
    strength: {visits: parseInt(f.visits.value, 10) || null, seconds: seconds > 0 ? seconds : null, weak: f.weak.checked},
  };
  await act(async () => setGame(await api("/api/games", body)));
}

async function loadSgf(ev) {
  const file = ev.target.files[0];
  if (!file) return;
  const text = await file.text();
  ev.target.value = "";
  await act(async () => {
    const st = await api("/api/games/import", {sgf: text});
    setGame(st);
    ui.view = 0;
    if (st.warnings && st.warnings.length) say(`${file.name}: ${st.warnings.join("; ")}`);
  });
}

async function start() {
  $("new-game").addEventListener("submit", newGame);
  $("pass").addEventListener("click", () => {
    const g = ui.game;
    if (canPlay()) act(async () => setGame(await api(`/api/games/${g.id}/move`, {move: "pass", ply: g.ply})));
  });
  $("undo").addEventListener("click", () => act(async () => setGame(await api(`/api/games/${ui.game.id}/undo`, {}))));
  $("resign").addEventListener("click", () => {
    if (confirm("Resign this game?")) act(async () => setGame(await api(`/api/games/${ui.game.id}/resign`, {})));
  });
  $("first").addEventListener("click", () => goTo(0));
  $("back").addEventListener("click", () => goTo(ui.view - 1));
  $("forward").addEventListener("click", () => goTo(ui.view + 1));
  $("last").addEventListener("click", () => goTo(ui.game ? ui.game.ply : 0));
  $("sgf-file").addEventListener("change", loadSgf);
  $("analysis-toggle").addEventListener("change", () => { render(); maybeAnalyse(); });
  for (const id of ["show-policy", "show-moves", "show-ownership"]) $(id).addEventListener("change", render);
  $("analyze-game").addEventListener("click", analyseGame);
  $("graph").addEventListener("click", (ev) => {
    const box = $("graph").getBoundingClientRect();
    goTo(Math.round(((ev.clientX - box.left) / box.width) * Math.max(ui.game.ply, 1)));
  });
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    const typing = t.tagName === "SELECT" || t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "checkbox");
    if (!ui.game || typing) return;
    const keys = {ArrowLeft: ui.view - 1, ArrowRight: ui.view + 1, Home: 0, End: ui.game.ply};
    if (ev.key in keys) { ev.preventDefault(); goTo(keys[ev.key]); }
  });
  window.addEventListener("hashchange", () => resume(location.hash.slice(1)));

  try {
    const info = await api("/api/info");
    $("bot-name").textContent = `against ${info.bot}`;
  } catch (e) { say(e.message); }
  const id = location.hash.slice(1) || localStorage.getItem("gozero-game");
  if (id) await resume(id);
}

async function resume(id) {
  if (!id || (ui.game && ui.game.id === id)) return;
  try {
    setGame(await api(`/api/games/${encodeURIComponent(id)}`));
    $("new-game-panel").open = false;
    await botTurn();
  } catch (e) {
    if (e.status === 404) { localStorage.removeItem("gozero-game"); history.replaceState(null, "", "#"); }
    else say(e.message);
  }
}

start();
