// Shared by the islands (put in place by islands.static_js, prefix given there): element helpers, number
// format, the status line and the island's server functions (named __PREFIX___*).
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
};
const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));
function status(text) { q(".__PREFIX__-status").textContent = text; }
async function call(name, arg) {
  try {
    const out = await server["__PREFIX___" + name](arg);
    if (out && out.error) { status(out.error); return null; }
    return out;
  } catch (err) { status(`The server did not answer (${name}): ${err}`); return null; }
}
