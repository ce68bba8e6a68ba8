// The error grid island (ui/widgets/error_grid.py): a virtual list of errors (only visible rows in the DOM), filters,
// keyboard triage and bulk tags. Runs as gradio's js_on_load: `element`, `trigger`, `props`, `server`, `watch`.
// Every id, caption and tag is written with textContent or as an attribute value, never as HTML.
const TAGS = __TAGS__;
const ROW_H = __ROW_H__;
const BLOCK = 40;
const root = element;
const q = (sel) => root.querySelector(sel);
const list = q(".eg-list");
const spacer = q(".eg-spacer");
const G = {
  view: null, total: 0, blocks: new Map(), pending: new Set(), shown: new Map(), cur: 0, selected: new Set(),
  query: 0, filterTimer: null,
};
__ISLAND_COMMON__

// ---------------------------------------------------------------------------- filters and sorting
function filters() {
  const f = {};
  for (const name of ["margin", "rank", "score"]) {
    const lo = q(`input[data-f="${name}"][data-i="0"]`).value, hi = q(`input[data-f="${name}"][data-i="1"]`).value;
    if (lo !== "" || hi !== "") f[name] = [lo === "" ? null : Number(lo), hi === "" ? null : Number(hi)];
  }
  for (const name of ["directions", "labels", "clusters", "tags"]) {
    const v = q(`select[data-f="${name}"]`).value;
    if (v) f[name] = [v];
  }
  const s = q('input[data-f="search"]').value.trim();
  if (s) f.search = s;
  return f;
}
function sortChoice() { const [by, dir] = q(".eg-sort").value.split(":"); return { sort: by, descending: dir === "desc" }; }
function request(start, count) { return { token: G.view.token, filter: filters(), ...sortChoice(), start, count }; }

function options(select, pairs, anyText) {
  const keep = select.value;
  select.replaceChildren(el("option", null, anyText));
  select.firstChild.value = "";
  for (const [value, n] of pairs) { const o = el("option", null, `${value} (${n})`); o.value = value; select.append(o); }
  select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
}

// ---------------------------------------------------------------------------- the virtual list
async function fetchBlock(b) {
  if (G.blocks.has(b) || G.pending.has(b)) return;
  G.pending.add(b);
  const ask = G.query;
  const out = await call("rows", request(b * BLOCK, BLOCK));
  G.pending.delete(b);
  if (!out || ask !== G.query) return;  // the filter changed meanwhile: this answer is stale
  G.total = out.total;
  G.blocks.set(b, out.rows);
  spacer.style.height = `${G.total * ROW_H}px`;
  q(".eg-count").textContent = `${out.total.toLocaleString()} of ${G.view.facets.total.toLocaleString()} errors`;
  q(".eg").dataset.total = String(out.total);
  q(".eg").dataset.rowsAt = String(Math.round(performance.now()));  // ms since navigation: the bench reads it
  render();
}
function rowAt(i) { const b = G.blocks.get(Math.floor(i / BLOCK)); return b ? b[i % BLOCK] : undefined; }

function render() {
  const first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - 3);
  const last = Math.min(G.total - 1, Math.ceil((list.scrollTop + list.clientHeight) / ROW_H) + 3);
  for (const [i, node] of G.shown) if (i < first || i > last) { node.remove(); G.shown.delete(i); }
  for (let i = first; i <= last; i++) {
    const r = rowAt(i);
    if (!r) { fetchBlock(Math.floor(i / BLOCK)); continue; }
    let node = G.shown.get(i);
    if (!node || node.dataset.key !== r.key || node.dataset.tag !== r.tag) {
      const fresh = rowNode(r, i);
      if (node) node.replaceWith(fresh); else spacer.append(fresh);
      G.shown.set(i, fresh);
      node = fresh;
    }
    node.classList.toggle("eg-cur", i === G.cur);
    node.classList.toggle("eg-sel", G.selected.has(r.key));
    node.setAttribute("aria-selected", String(i === G.cur));
  }
  q(".eg-selcount").textContent = G.selected.size ? `${G.selected.size.toLocaleString()} selected` : "";
}

function cell(role, side, score) {
  const c = el("div", "eg-cell");
  const head = el("div", "eg-cell-head");
  head.append(el("span", "eg-role", role), el("span", "eg-score", score === null ? "" : `cos ${fmt(score)}`));
  c.append(head);
  const p = side.preview;
  if (p.image) { const img = el("img"); img.src = p.image; img.alt = side.id; c.append(img); }
  else if (side.modality === "audio") {
    const b = el("button", "eg-play", `▶ ${fmt(p.seconds, 1)} s`);
    b.type = "button";
    b.dataset.modality = side.modality; b.dataset.id = side.id;
    c.append(b);
  } else c.append(el("p", "eg-text", p.text || "(no content)"));
  const id = el("div", "eg-id", side.id);
  id.title = side.id;
  c.append(id);
  return c;
}

function rowNode(r, i) {
  const n = el("div", "eg-row");
  n.style.top = `${i * ROW_H}px`;
  n.dataset.index = String(i); n.dataset.key = r.key; n.dataset.tag = r.tag;
  n.setAttribute("role", "option");
  const meta = el("div", "eg-meta");
  const mark = el("button", "eg-mark", "");
  mark.type = "button"; mark.title = "select (x)"; mark.setAttribute("aria-label", "select this error");
  const opener = el("button", "eg-open", "open");
  opener.type = "button"; opener.title = "open this error (Enter)"; opener.setAttribute("aria-label", "open this error");
  meta.append(mark, el("span", "eg-n", `#${i + 1}`), opener, el("span", "eg-dir", r.direction),
    el("span", "eg-num", `rank ${r.rank}`), el("span", "eg-num", `margin ${fmt(r.margin)}`));
  if (r.near !== undefined && r.near !== null) meta.append(el("span", "eg-num", `near ${fmt(r.near)}`));
  if (r.label) meta.append(el("span", "eg-chip", r.label));
  if (r.cluster) meta.append(el("span", "eg-chip eg-cluster", r.cluster));
  const tag = el("span", "eg-tag", r.tag || "untagged");
  if (!r.tag) tag.classList.add("eg-untagged");
  meta.append(tag);
  const cells = el("div", "eg-cells");
  cells.append(cell("query", r.q, null), cell("truth", r.t, r.truth_score), cell("top wrong match", r.w, r.score));
  n.append(meta, cells);
  return n;
}

function reload() {
  G.query++;
  G.blocks.clear(); G.pending.clear();
  for (const node of G.shown.values()) node.remove();
  G.shown.clear();
  G.total = 0; G.cur = 0;
  list.scrollTop = 0;
  fetchBlock(0);
}

// ---------------------------------------------------------------------------- triage
function move(to) {
  if (!G.total) return;
  G.cur = Math.max(0, Math.min(G.total - 1, to));
  const top = G.cur * ROW_H;
  if (top < list.scrollTop) list.scrollTop = top;
  else if (top + ROW_H > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_H - list.clientHeight;
  render();
}
function toggle(i) { const r = rowAt(i); if (!r) return; G.selected.has(r.key) ? G.selected.delete(r.key) : G.selected.add(r.key); render(); }

async function tag(tagName) {
  if (!tagName || !G.view.can_tag) return;
  const bulk = G.selected.size > 0;
  const r = rowAt(G.cur);
  const keys = bulk ? [...G.selected] : r ? [r.key] : [];
  if (!keys.length) return;
  // Shown at once, and the cursor moves at once, so keys pressed faster than the server answers act on the
  // rows the user sees; a refusal puts the old tags back.
  const tagged = new Set(keys), before = new Map();
  for (const rows of G.blocks.values()) for (const row of rows) if (tagged.has(row.key)) { before.set(row, row.tag); row.tag = tagName; }
  if (!bulk) move(G.cur + 1); else render();
  const out = await call("tag", { token: G.view.token, keys, tag: tagName });
  if (!out) { for (const [row, old] of before) row.tag = old; render(); return; }
  status(out.message);
}

function open(i) {
  const r = rowAt(i);
  if (!r) return;
  trigger("open", { token: G.view.token, e: r.e, key: r.key, direction: r.direction, space: r.space,
                    query: r.query, truth: r.truth, top: r.top });
}

list.addEventListener("scroll", () => render());
list.addEventListener("keydown", (event) => {
  if (event.target.closest("input, select")) return;
  const k = event.key;
  if (k === "j" || k === "ArrowDown") move(G.cur + 1);
  else if (k === "k" || k === "ArrowUp") move(G.cur - 1);
  else if (k >= "1" && k <= String(TAGS.length)) tag(TAGS[Number(k) - 1]);
  else if (k === "x") toggle(G.cur);
  else if (k === "Enter") open(G.cur);
  else if (k === "Escape") { G.selected.clear(); render(); }
  else return;
  event.preventDefault();
});
list.addEventListener("click", async (event) => {
  const row = event.target.closest(".eg-row");
  if (!row) return;
  const i = Number(row.dataset.index);
  const play = event.target.closest(".eg-play");
  if (play) {
    play.disabled = true;
    const out = await call("audio", { token: G.view.token, modality: play.dataset.modality, id: play.dataset.id });
    if (out) { const a = el("audio"); a.controls = true; a.src = out.audio; play.replaceWith(a); a.play().catch(() => {}); }
    return;
  }
  G.cur = i;
  if (event.target.closest(".eg-open")) { render(); open(i); return; }
  if (event.target.closest(".eg-mark")) toggle(i); else render();
  list.focus({ preventScroll: true });
});
list.addEventListener("dblclick", (event) => { const row = event.target.closest(".eg-row"); if (row) open(Number(row.dataset.index)); });

root.addEventListener("input", (event) => {
  if (!event.target.closest(".eg-filters") || !G.view) return;
  clearTimeout(G.filterTimer);
  G.filterTimer = setTimeout(reload, 250);
});
root.addEventListener("click", async (event) => {
  const b = event.target.closest("button[data-act]");
  if (!b || !G.view) return;
  const act = b.dataset.act;
  if (act === "tag") tag(b.dataset.tag);
  if (act === "custom") tag(q(".eg-custom").value.trim());
  if (act === "clear") { G.selected.clear(); render(); }
  if (act === "all") {
    const out = await call("keys", { token: G.view.token, filter: filters(), ...sortChoice() });
    if (out) { for (const k of out.keys) G.selected.add(k); render(); }
  }
  if (act === "unscope") { const out = await call("unscope", { token: G.view.token }); if (out) { G.view.scope = null; scope(); reload(); } }
});
q(".eg-custom").addEventListener("keydown", (event) => { if (event.key === "Enter") tag(event.target.value.trim()); });

function scope() {
  const box = q(".eg-scope");
  box.hidden = !G.view.scope;
  q(".eg-scope-text").textContent = G.view.scope || "";
}

// The same view re-read where the reader is (rows, cursor, scroll and selection kept): tags changed elsewhere.
function refresh() {
  G.query++;
  G.blocks.clear(); G.pending.clear();
  render();
}

function load() {
  let v = null;
  try { v = props.value ? JSON.parse(props.value) : null; } catch (err) { v = { message: `Unreadable grid data (${err})` }; }
  const keep = !!(v && v.keep && G.view && v.token === G.view.token);
  G.view = v && v.token ? v : null;
  if (!keep) G.selected.clear();
  q(".eg-empty").textContent = G.view ? "" : (v && v.message) || "No errors to show yet.";
  q(".eg-body").hidden = !G.view;
  if (!G.view) return;
  const f = v.facets;
  options(q('select[data-f="directions"]'), f.directions, "any direction");
  options(q('select[data-f="labels"]'), f.labels, "any label");
  options(q('select[data-f="clusters"]'), f.clusters, "any cluster");
  options(q('select[data-f="tags"]'), [["untagged", ""], ...TAGS.map((t) => [t, ""]), ...v.custom_tags.map((t) => [t, ""])], "any tag");
  for (const o of q('select[data-f="tags"]').options) o.textContent = o.textContent.replace(" ()", "");
  q('select[data-f="clusters"]').parentElement.hidden = !f.clusters.length;
  q('select[data-f="labels"]').parentElement.hidden = !f.labels.length;
  for (const name of ["margin", "rank", "score"]) {
    const b = f[name];
    q(`input[data-f="${name}"][data-i="0"]`).placeholder = b ? `min ${fmt(b[0], name === "rank" ? 0 : 2)}` : "min";
    q(`input[data-f="${name}"][data-i="1"]`).placeholder = b ? `max ${fmt(b[1], name === "rank" ? 0 : 2)}` : "max";
  }
  const sort = q(".eg-sort");
  const near = [...sort.options].find((o) => o.value === "near:desc");
  near.hidden = !v.near; near.textContent = v.near ? `nearest to ${v.near}` : "nearest";
  sort.value = v.near ? "near:desc" : sort.value === "near:desc" ? "margin:desc" : sort.value;
  const tags = q(".eg-tags");
  tags.replaceChildren(...TAGS.map((t, i) => { const b = el("button", "eg-btn", `${i + 1} ${t}`); b.type = "button"; b.dataset.act = "tag"; b.dataset.tag = t; return b; }));
  q(".eg-tagging").hidden = !v.can_tag;
  scope();
  if (keep) { refresh(); return; }
  status("");
  reload();
}
watch("value", load);
load();
