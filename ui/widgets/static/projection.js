// The projection island (ui/widgets/projection.py): a plotly scattergl of one space, a hover card, a selection
// panel. Runs as gradio's js_on_load, so `element`, `trigger`, `props`, `server` and `watch` are given.
// Every id, caption and label is written with textContent or as an attribute value, never as HTML.
const CHUNK = "__PLOTLY_CHUNK__";
const TAGS = __TAGS__;
const AUDIO_SECONDS = __AUDIO_SECONDS__;
const root = element;
const frame = root.querySelector(".xp");  // carries data-height in, and data-drawn / data-selected out (for tests)
const q = (sel) => root.querySelector(sel);
const plotDiv = q(".xp-plot");
const S = {
  view: null, xy: null, colour: null, traceRows: [], selected: null, colours: new Map(), cards: new Map(),
  hoverTimer: null, wanted: -1, lines: false, linesTrace: null, bound: false, mode: "lasso",
  traceOf: null, indexOf: null, drag: null, dragEnded: -Infinity,
};
const wrap = q(".xp-wrap");
const lassoPath = q(".xp-lasso path");

function plotlyUrl() {
  // Gradio's frontend ships the full plotly.js as a lazy chunk beside its index script; import it from there.
  const index = document.querySelector('script[type="module"][src*="/assets/index-"]');
  const base = index ? index.src : new URL("assets/", document.baseURI).href;
  return new URL(CHUNK, base).href;
}
async function plotly() {
  if (!window.Plotly) {
    const t0 = performance.now();
    await import(plotlyUrl());  // the chunk sets window.Plotly
    frame.dataset.importMs = String(Math.round(performance.now() - t0));
  }
  return window.Plotly;
}
function bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
const f32 = (b64) => new Float32Array(bytes(b64).buffer);
const i32 = (b64) => new Int32Array(bytes(b64).buffer);
__ISLAND_COMMON__

// ---------------------------------------------------------------------------- drawing
function pointSize(n) { return n <= 2000 ? 7 : n <= 20000 ? 4 : 2.5; }

function traces() {
  const n = S.view.n, xy = S.xy, c = S.colour, out = [], rows = [];
  S.traceOf = new Int16Array(n); S.indexOf = new Int32Array(n);
  const size = pointSize(n);
  const base = { type: "scattergl", mode: "markers", hoverinfo: "none", selected: { marker: { opacity: 1 } },
                 unselected: { marker: { opacity: 0.12 } } };
  if (c.kind === "category") {
    const codes = bytes(c.codes);
    const counts = new Int32Array(c.categories.length);
    for (let i = 0; i < n; i++) counts[codes[i]]++;
    const idx = c.categories.map((_, k) => new Int32Array(counts[k]));
    const fill = new Int32Array(c.categories.length);
    for (let i = 0; i < n; i++) { const k = codes[i]; idx[k][fill[k]++] = i; }
    // drawn last = on top: the first categories (errors, tags, clusters) over the last (correct, untagged, noise);
    // the legend is reversed back, so it still reads in category order
    for (let k = c.categories.length - 1; k >= 0; k--) {
      const name = c.categories[k];
      const r = idx[k], x = new Float32Array(r.length), y = new Float32Array(r.length);
      for (let j = 0; j < r.length; j++) { x[j] = xy[2 * r[j]]; y[j] = xy[2 * r[j] + 1]; }
      out.push({ ...base, x, y, name: `${name} (${r.length.toLocaleString()})`,
                 marker: { size, color: c.colours[k], opacity: 0.85 } });
      rows.push(r);
    }
  } else {
    const v = f32(c.values);
    const has = [], none = [];
    for (let i = 0; i < n; i++) (Number.isNaN(v[i]) ? none : has).push(i);
    for (const [r, named] of [[Int32Array.from(has), true], [Int32Array.from(none), false]]) {
      if (!r.length) continue;
      const x = new Float32Array(r.length), y = new Float32Array(r.length), col = new Float32Array(r.length);
      for (let j = 0; j < r.length; j++) { x[j] = xy[2 * r[j]]; y[j] = xy[2 * r[j] + 1]; col[j] = v[r[j]]; }
      out.push(named
        ? { ...base, x, y, name: `${c.title} (${r.length.toLocaleString()})`, showlegend: false,
            marker: { size, color: col, colorscale: c.scale, cmin: c.bounds[0], cmax: c.bounds[1], opacity: 0.9,
                      colorbar: { title: { text: c.title, side: "right" }, thickness: 12, len: 0.8 } } }
        : { ...base, x, y, name: `no margin (${r.length.toLocaleString()})`, marker: { size, color: "#a3a3a3", opacity: 0.6 } });
      rows.push(r);
    }
  }
  S.traceRows = rows;
  rows.forEach((r, t) => { for (let j = 0; j < r.length; j++) { S.traceOf[r[j]] = t; S.indexOf[r[j]] = j; } });
  if (S.linesTrace) out.push(S.linesTrace);
  return out;
}

function layout() {
  const narrow = root.clientWidth < 700;
  const many = S.colour.kind === "category" && S.colour.categories.length > 8;  // a long legend goes beside the plot
  const legend = { font: { size: 11 }, traceorder: "reversed", itemsizing: "constant" };
  return {
    height: narrow ? Math.max(320, Math.round(root.clientWidth * 1.05)) : Number(frame.dataset.height || 560), dragmode: S.mode === "pan" ? "pan" : false, hovermode: "closest", uirevision: S.view.token,
    margin: { l: 8, r: 8, t: 8, b: 8 }, xaxis: { visible: false }, yaxis: { visible: false, scaleanchor: "x" },
    // below the plot (or beside it for a long one): a legend inside the plot would hide the points under it
    legend: many && !narrow ? { ...legend, x: 1.01, xanchor: "left", y: 1 }
          : { ...legend, orientation: "h", y: -0.02, yanchor: "top" },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
  };
}

async function draw() {
  const P = await plotly();
  const t0 = performance.now();
  const data = traces();
  frame.dataset.tracesMs = String(Math.round(performance.now() - t0));
  await P.react(plotDiv, data, layout(), {
    displaylogo: false, responsive: true, scrollZoom: true,
    modeBarButtonsToRemove: ["toImage", "autoScale2d", "toggleSpikelines", "hoverClosestCartesian", "hoverCompareCartesian",
                             "lasso2d", "select2d", "zoom2d", "pan2d"],  // the bar's lasso / box / pan do these
  });
  if (S.selected) await highlight(S.selected);
  frame.dataset.drawMs = String(Math.round(performance.now() - t0));
  frame.dataset.drawn = S.view.token + ":" + S.colour.by;
  frame.dataset.drawnAt = String(Math.round(performance.now()));  // ms since navigation: the bench reads these
  if (!S.bound) bind();
}

function bind() {
  S.bound = true;
  plotDiv.on("plotly_hover", (ev) => {
    const p = ev.points && ev.points[0];
    const rows = p && S.traceRows[p.curveNumber];
    if (!rows) return;
    const row = rows[p.pointIndex];
    tip(row, ev.event);
    clearTimeout(S.hoverTimer);
    S.hoverTimer = setTimeout(() => showCard(row), 60);
  });
  plotDiv.on("plotly_unhover", () => { q(".xp-tip").hidden = true; S.tipRow = -1; clearTimeout(S.hoverTimer); });
  plotDiv.on("plotly_click", (ev) => {
    if (performance.now() - S.dragEnded < 400) return;  // the end of a lasso, not a click on a point
    const p = ev.points && ev.points[0];
    const rows = p && S.traceRows[p.curveNumber];
    if (!rows) return;
    const row = rows[p.pointIndex];
    showCard(row).then((card) => { if (card) open(card); });
  });
}

function tip(row, mouse) {
  const t = q(".xp-tip");
  const card = S.cards.get(row);
  S.tipRow = row;
  t.textContent = card ? `${card.id} · ${card.modality}` : "…";
  const box = root.getBoundingClientRect();
  t.style.left = `${Math.min(mouse.clientX - box.left + 12, root.clientWidth - 200)}px`;
  t.style.top = `${mouse.clientY - box.top + 12}px`;
  t.hidden = false;
}

// ---------------------------------------------------------------------------- the hover card
async function showCard(row) {
  S.wanted = row;
  const token = S.view.token;
  let card = S.cards.get(row);
  if (!card) {
    card = await call("card", { token, row });
    if (!card || !S.view || S.view.token !== token) return null;  // another view was drawn meanwhile: not its row
    if (S.cards.size > 300) S.cards.delete(S.cards.keys().next().value);
    S.cards.set(row, card);
  }
  if (S.wanted === row) renderCard(card);
  const t = q(".xp-tip");
  if (S.tipRow === row && !t.hidden) t.textContent = `${card.id} · ${card.modality}`;
  return card;
}

function media(preview, cls) {
  const box = el("div", cls);
  if (preview.image) { const img = el("img"); img.src = preview.image; img.alt = ""; box.append(img); }
  if (preview.audio) {
    const a = el("audio"); a.controls = true; a.preload = "auto"; a.src = preview.audio; box.append(a);
    if (preview.seconds > AUDIO_SECONDS) box.append(el("p", "xp-muted", `the first ${AUDIO_SECONDS} s of ${fmt(preview.seconds, 1)} s`));
  }
  if (preview.text) box.append(el("p", "xp-text", preview.text));
  if (!preview.image && !preview.audio && !preview.text) box.append(el("p", "xp-muted", "no content (precomputed embedding)"));
  return box;
}

function renderCard(card) {
  const box = q(".xp-card");
  box.replaceChildren();
  box.dataset.row = String(card.row);
  frame.dataset.cardAt = String(Math.round(performance.now()));
  const head = el("div", "xp-card-head");
  head.append(el("strong", "xp-id", card.id), el("span", "xp-chip", card.modality));
  box.append(head, media(card.preview, "xp-media"));
  const facts = el("dl", "xp-facts");
  const add = (k, v) => { if (v === null || v === undefined || v === "") return; facts.append(el("dt", null, k), el("dd", null, v)); };
  add("pair", card.pair); add("label", card.label); add("cluster", card.cluster);
  add("tags", card.tags.join(", "));
  for (const o of card.outcomes) add(o.direction, o.rank === 1 ? `right (won by ${fmt(-o.margin)})` : `truth ranked ${o.rank}, lost by ${fmt(o.margin)}`);
  box.append(facts);
  const openBtn = el("button", "xp-btn", "Open");
  openBtn.type = "button";
  openBtn.addEventListener("click", () => open(card));
  box.append(openBtn);
}

function open(card) {
  trigger("open", { token: S.view.token, space: S.view.space, row: card.row, id: card.id, modality: card.modality, pair: card.pair });
}

// ---------------------------------------------------------------------------- selection
// ---------------------------------------------------------------------------- lasso and box
// Drawn here rather than by plotly's own lasso: plotly re-selects and redraws every point on each mouse move of a
// drag (1.3 s per move at 100k points with software WebGL); here a drag only moves an SVG path, and the points
// inside are found once, on release (a bounding-box test, then ray casting in data coordinates).
function plotArea() {
  const fl = plotDiv._fullLayout;
  return fl ? { fl, left: fl._size.l, top: fl._size.t, width: fl._size.w, height: fl._size.h } : null;
}
function local(event) { const r = wrap.getBoundingClientRect(); return [event.clientX - r.left, event.clientY - r.top]; }
function outline(points) {
  lassoPath.setAttribute("d", points.length ? "M" + points.map((p) => p.join(",")).join("L") + "Z" : "");
}
function corners(a, b) { return [a, [b[0], a[1]], b, [a[0], b[1]]]; }

wrap.addEventListener("pointerdown", (event) => {
  const area = plotArea();
  if (!S.view || S.mode === "pan" || event.button !== 0 || !area) return;
  const [x, y] = local(event);
  if (x < area.left || y < area.top || x > area.left + area.width || y > area.top + area.height) return;
  S.drag = { start: [x, y], points: [[x, y]], moved: false };
});
// Moves and the release are read on the window: plotly lays a cover over the page while a button is down.
window.addEventListener("pointermove", (event) => {
  if (!S.drag || !root.isConnected) return;
  const p = local(event), last = S.drag.points[S.drag.points.length - 1];
  if (!S.drag.moved && Math.hypot(p[0] - S.drag.start[0], p[1] - S.drag.start[1]) > 4) {
    S.drag.moved = true;  // a drag, not a click (a click stays plotly's: it opens the point)
    wrap.classList.add("xp-dragging");
  }
  if (!S.drag.moved) return;
  if (S.mode === "box") S.drag.points = corners(S.drag.start, p);
  else if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 3) S.drag.points.push(p);
  q(".xp-tip").hidden = true;
  outline(S.drag.points);
});
window.addEventListener("pointerup", (event) => {
  const drag = S.drag;
  S.drag = null;
  wrap.classList.remove("xp-dragging");
  if (!drag || !drag.moved) return;
  S.dragEnded = performance.now();
  if (S.mode === "box") drag.points = corners(drag.start, local(event));
  else drag.points.push(local(event));
  outline([]);
  if (drag.points.length >= 3) selectRows(inside(drag.points));
});
window.addEventListener("pointercancel", () => { S.drag = null; outline([]); wrap.classList.remove("xp-dragging"); });

function inside(pixels) {
  const { fl, left, top } = plotArea();
  const m = pixels.length, px = new Float64Array(m), py = new Float64Array(m);
  for (let k = 0; k < m; k++) { px[k] = fl.xaxis.p2l(pixels[k][0] - left); py[k] = fl.yaxis.p2l(pixels[k][1] - top); }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let k = 0; k < m; k++) { x0 = Math.min(x0, px[k]); x1 = Math.max(x1, px[k]); y0 = Math.min(y0, py[k]); y1 = Math.max(y1, py[k]); }
  const xy = S.xy, n = S.view.n, out = [];
  for (let i = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1];
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    let hit = false;
    for (let a = 0, b = m - 1; a < m; b = a++) {
      if ((py[a] > y) !== (py[b] > y) && x < ((px[b] - px[a]) * (y - py[a])) / (py[b] - py[a]) + px[a]) hit = !hit;
    }
    if (hit) out.push(i);
  }
  return Int32Array.from(out);
}

async function highlight(rows) {
  const n = S.traceRows.length;
  const per = S.traceRows.map(() => []);
  if (rows) for (const r of rows) per[S.traceOf[r]].push(S.indexOf[r]);
  const idx = S.traceRows.map((_, t) => t);
  await window.Plotly.restyle(plotDiv, { selectedpoints: rows ? per : per.map(() => null) }, idx.slice(0, n));
}

async function selectRows(rows) {
  S.selected = rows && rows.length ? rows : null;
  frame.selectedRows = S.selected;  // read by the browser tests
  await highlight(S.selected);
  const panel = q(".xp-sel");
  if (!S.selected) { panel.hidden = true; frame.dataset.selected = "0"; if (S.lines) lines(); return; }
  panel.hidden = false;
  q(".xp-sel-count").textContent = `${S.selected.length.toLocaleString()} selected`;
  frame.dataset.selected = String(S.selected.length);
  const list = Array.from(S.selected);
  const out = await call("selected", { token: S.view.token, rows: list });
  if (!out) return;
  renderSelection(out);
  trigger("selection", { token: S.view.token, space: S.view.space, rows: list });
  if (S.lines) lines();
}

function renderSelection(out) {
  frame.dataset.panelAt = String(Math.round(performance.now()));
  const s = out.stats;
  const stats = q(".xp-sel-stats");
  stats.replaceChildren();
  const add = (k, v) => { const d = el("div", "xp-stat"); d.append(el("span", "xp-stat-v", v), el("span", "xp-stat-k", k)); stats.append(d); };
  add("R@1", s.r1 === null ? "–" : fmt(s.r1, 2));
  add("mean margin", fmt(s.mean_margin));
  add("errors", s.errors.toLocaleString());
  add("by modality", Object.entries(s.by_modality).map(([m, k]) => `${k} ${m}`).join(" · "));
  const grid = q(".xp-grid");
  grid.replaceChildren();
  for (const item of out.items) {
    const b = el("button", `xp-thumb xp-${item.modality}`);
    b.type = "button";
    b.dataset.row = String(item.row);
    b.title = item.id;
    if (item.preview.image) { const img = el("img"); img.src = item.preview.image; img.alt = item.id; img.loading = "lazy"; b.append(img); }
    else if (item.modality === "audio") b.append(el("span", "xp-note", `♪ ${fmt(item.preview.seconds, 1)} s`));
    else b.append(el("span", "xp-snip", item.preview.text || item.id));
    b.addEventListener("click", () => showCard(item.row));
    grid.append(b);
  }
  const more = out.n - out.items.length;
  q(".xp-more").textContent = more > 0 ? `and ${more.toLocaleString()} more (export to see them all)` : "";
}

async function tagAll(tag) {
  if (!S.selected || !tag) return;
  const out = await call("tag", { token: S.view.token, rows: Array.from(S.selected), tag });
  if (!out) return;
  status(out.message);
  S.colours.delete("tag");
  S.cards.clear();
  if (S.colour.by === "tag") await recolour("tag");
}

async function recolour(by) {
  let c = S.colours.get(by);
  if (!c) {
    c = await call("colour", { token: S.view.token, by });
    if (!c) return;
    if (by !== "tag") S.colours.set(by, c);
  }
  S.colour = c;
  await draw();
}

async function lines() {
  if (!S.lines) { S.linesTrace = null; await draw(); return; }
  const out = await call("lines", { token: S.view.token, rows: S.selected ? Array.from(S.selected) : null });
  if (!out) return;
  const pairs = i32(out.pairs), m = pairs.length / 2;
  const x = new Float32Array(3 * m), y = new Float32Array(3 * m);
  for (let j = 0; j < m; j++) {
    const a = pairs[2 * j], b = pairs[2 * j + 1];
    x[3 * j] = S.xy[2 * a]; y[3 * j] = S.xy[2 * a + 1]; x[3 * j + 1] = S.xy[2 * b]; y[3 * j + 1] = S.xy[2 * b + 1];
    x[3 * j + 2] = NaN; y[3 * j + 2] = NaN;
  }
  S.linesTrace = { type: "scattergl", mode: "lines", x, y, hoverinfo: "skip", name: `true pairs (${m.toLocaleString()})`,
                   line: { width: 1, color: "rgba(60,60,60,0.35)" } };
  if (out.total > m) status(`Showing ${m.toLocaleString()} of ${out.total.toLocaleString()} true-pair lines: select points to see theirs.`);
  await draw();
}

// ---------------------------------------------------------------------------- controls
root.addEventListener("change", (event) => {
  const t = event.target;
  if (t.matches(".xp-colour")) recolour(t.value);
  if (t.matches(".xp-lines")) { S.lines = t.checked; lines(); }
});
root.addEventListener("click", (event) => {
  const m = event.target.closest("button.xp-mode");
  if (m) {
    S.mode = m.dataset.mode;
    for (const other of root.querySelectorAll(".xp-mode")) other.setAttribute("aria-pressed", String(other === m));
    if (S.view && window.Plotly) window.Plotly.relayout(plotDiv, { dragmode: S.mode === "pan" ? "pan" : false });
    return;
  }
  const b = event.target.closest("button[data-act]");
  if (!b || !S.view) return;
  const act = b.dataset.act;
  if (act === "tag") tagAll(b.dataset.tag);
  if (act === "custom") tagAll(q(".xp-custom").value.trim());
  if (act === "csv" || act === "parquet") {
    if (!S.selected) return;
    status(`Preparing ${act.toUpperCase()} of ${S.selected.length.toLocaleString()} points: the file appears below.`);
    trigger("export", { token: S.view.token, rows: Array.from(S.selected), format: act });
  }
  if (act === "clear") selectRows(null);
});
q(".xp-custom").addEventListener("keydown", (event) => { if (event.key === "Enter") tagAll(event.target.value.trim()); });

function reset(message) {
  S.view = null; S.selected = null; frame.selectedRows = null; S.drag = null; outline([]); S.cards.clear(); S.colours.clear(); S.linesTrace = null;
  q(".xp-sel").hidden = true;
  q(".xp-card").replaceChildren(el("p", "xp-muted", "Hover a point to see it here; click to open it; lasso or box-select to fill the selection panel."));
  q(".xp-empty").textContent = message || "";
  q(".xp-empty").hidden = !message;
}

async function load() {
  frame.dataset.valueAt = String(Math.round(performance.now()));
  let v = null;
  try { v = props.value ? JSON.parse(props.value) : null; } catch (err) { v = { message: `Unreadable projection data (${err})` }; }
  if (!v || !v.token) { reset(v && v.message ? v.message : "Nothing to project yet."); if (window.Plotly) window.Plotly.purge(plotDiv); S.bound = false; return; }
  reset("");
  S.view = v;
  S.xy = f32(v.xy);
  S.colour = v.colour;
  S.colours.set(v.colour.by, v.colour);
  const pick = q(".xp-colour");
  pick.replaceChildren(...v.colour_by.map((b) => { const o = el("option", null, b); o.value = b; return o; }));
  pick.value = v.colour.by;
  q(".xp-lines").checked = false; S.lines = false;
  q(".xp-title").textContent = `${v.title || v.space + " space"} · ${v.n.toLocaleString()} points${v.method ? " · " + v.method.toUpperCase() : ""}`;
  const tags = q(".xp-tags");
  tags.replaceChildren(...TAGS.map((t, i) => { const b = el("button", "xp-btn", `${i + 1} ${t}`); b.type = "button"; b.dataset.act = "tag"; b.dataset.tag = t; return b; }));
  q(".xp-custom-row").hidden = !v.can_tag; q(".xp-tags-row").hidden = !v.can_tag;
  status("");
  try { await draw(); } catch (err) { status(`Could not draw the projection: ${err}`); }
}
plotly().catch(() => {});  // start fetching plotly.js now: it loads while the data is on its way
watch("value", load);
load();
