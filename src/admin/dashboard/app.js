// @ts-check
/**
 * The dashboard's script (runs in the browser; dashboard.ts serves it inside the page, as is:
 * plain JavaScript, type-checked against the DOM by this folder's tsconfig.json). It reads the
 * admin API (through api.js, which comes before it in the page) and adds no powers of its own:
 * the live stream (/events), held approvals (/pending), recent blocks (/blocked), counters
 * (/metrics) and the mode switch (/mode).
 */

const MAX_ROWS = 500;
const MAX_BLOCKS = 20;
/** @type {Map<number, Pending>} */
const pending = new Map();
let mode = "full";

/** @param {string} id */
function byId(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page has no #${id}`);
  return e;
}
/** @param {string} id */
const field = (id) => /** @type {HTMLInputElement | HTMLSelectElement} */ (byId(id));

/**
 * @param {string} tag
 * @param {Record<string, string>} [props]
 * @param {string} [text]
 */
function el(tag, props = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

/** @param {number} ms */
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

/** @param {string} m */
function setMode(m) {
  mode = m;
  const b = byId("mode");
  b.textContent = m;
  b.className = `badge ${m}`;
  byId("mode-switch").textContent = m === "full" ? "Switch to limited" : "Switch to full";
}

// ------------------------------------------------------------------ live decisions

function filters() {
  return { host: field("f-host").value.trim().toLowerCase(), decision: field("f-decision").value, protocol: field("f-protocol").value };
}

/**
 * @param {DOMStringMap} row
 * @param {ReturnType<typeof filters>} f
 */
function shown(row, f) {
  return (
    (!f.host || (row["target"] ?? "").includes(f.host)) && (!f.decision || row["decision"] === f.decision) && (!f.protocol || row["protocol"] === f.protocol)
  );
}

/** @param {Decision} d */
function addDecision(d) {
  const rows = byId("rows");
  const tr = document.createElement("tr");
  tr.dataset["target"] = d.target.toLowerCase();
  tr.dataset["decision"] = d.decision;
  tr.dataset["protocol"] = d.protocol;
  const cells = [clock(d.time), d.protocol, d.method ?? "", d.target, d.decision, d.status ? String(d.status) : "", d.reason ?? d.rule ?? ""];
  cells.forEach((text, i) => {
    const td = el("td", i === 4 ? { class: `d-${d.decision}` } : {}, text);
    td.title = i === 6 && d.detail ? d.detail : text;
    tr.append(td);
  });
  tr.hidden = !shown(tr.dataset, filters());
  // Newest first, without moving what the reader is looking at when scrolled down.
  const stream = byId("stream");
  const keep = stream.scrollTop > 0 ? stream.scrollTop + 26 : 0;
  rows.prepend(tr);
  if (keep) stream.scrollTop = keep;
  while (rows.children.length > MAX_ROWS) rows.lastElementChild?.remove();
  byId("stream-empty").hidden = true;
}

function refilter() {
  const f = filters();
  for (const tr of byId("rows").children) if (tr instanceof HTMLElement) tr.hidden = !shown(tr.dataset, f);
}

// ------------------------------------------------------------------ approvals

const ANSWERS = [
  ["allow_once", "Allow once", "allow"],
  ["allow_session", "Allow for session", "allow"],
  ["deny_session", "Deny for session", "deny"],
];

/** What is waiting, in one line: each kind of attempt once, how many, since when. */
/** @param {Pending} p */
function pendingMeta(p) {
  const kinds = [...new Set(p.attempts.map((a) => `${a.method ?? a.protocol} via ${a.protocol}`))].join(", ");
  return `${kinds} · ${p.waiting} waiting · since ${clock(p.first_seen)} · ${p.client}`;
}

/** @param {Pending} p */
function pendingCard(p) {
  const card = el("div", { class: "card", "data-id": String(p.id) });
  const host = p.host.includes(":") ? `[${p.host}]` : p.host;
  card.append(el("div", { class: "target" }, `${host}:${p.port}`), el("div", { class: "meta" }, pendingMeta(p)));
  const actions = el("div", { class: "actions" });
  const scope = /** @type {HTMLSelectElement} */ (el("select"));
  for (const [value, pattern] of Object.entries(p.scopes)) if (pattern) scope.append(el("option", { value }, pattern));
  const persist = /** @type {HTMLInputElement} */ (el("input", { type: "checkbox" }));
  const scopeLabel = el("label", {}, "rule for ");
  scopeLabel.append(scope);
  const persistLabel = el("label", { title: "Also add the rule to the config file's list (not for Allow once)" });
  persistLabel.append(persist, " save to config");
  for (const [decision = "", label = "", cls = ""] of ANSWERS) {
    const b = el("button", { type: "button", class: cls, "data-decision": decision }, label);
    b.addEventListener("click", async () => {
      for (const x of card.querySelectorAll("button")) x.disabled = true;
      const body = { decision, scope: scope.value, persist: persist.checked && decision !== "allow_once" };
      const r = await api(`/pending/${p.id}`, { method: "POST", body: JSON.stringify(body) });
      if (r.ok) return;
      byId("status").textContent = `answer failed: ${await errorOf(r)}`;
      for (const x of card.querySelectorAll("button")) x.disabled = false;
    });
    actions.append(b);
  }
  const options = el("div", { class: "options" });
  options.append(scopeLabel, persistLabel);
  card.append(actions, options);
  return card;
}

/** @type {Map<number, HTMLElement>} */
const cards = new Map();

/**
 * Cards are added, updated in place and removed, never rebuilt: a choice being made in one
 * (its scope, the checkbox, the focus) survives other attempts joining it.
 */
function renderPending() {
  const box = byId("pending");
  for (const [id, card] of cards) {
    if (pending.has(id)) continue;
    card.remove();
    cards.delete(id);
  }
  for (const p of [...pending.values()].sort((a, b) => a.first_seen - b.first_seen)) {
    const card = cards.get(p.id);
    if (card) {
      const meta = card.querySelector(".meta");
      if (meta) meta.textContent = pendingMeta(p);
    } else {
      const made = pendingCard(p);
      cards.set(p.id, made);
      box.append(made);
    }
  }
  byId("pending-empty").hidden = pending.size > 0;
}

/** @param {RuntimeRule[]} rules */
function renderRules(rules) {
  const rows = rules.map((r) => {
    const row = el("div", { class: "rule", "data-rule": String(r.id) });
    row.append(el("span", { class: `list ${r.list}` }, r.list), el("span", { class: "pattern" }, r.pattern));
    row.append(el("span", { class: "meta" }, `${r.by} · ${clock(r.at)}`));
    const remove = el("button", { type: "button", "aria-label": `Remove the ${r.list} rule ${r.pattern}` }, "Remove");
    remove.addEventListener("click", async () => {
      const res = await api(`/runtime-rules/${r.id}`, { method: "DELETE" });
      if (!res.ok) byId("status").textContent = `remove failed: ${await errorOf(res)}`;
    });
    row.append(remove);
    return row;
  });
  byId("rules").replaceChildren(...rows);
  byId("rules-empty").hidden = rules.length > 0;
}

// ------------------------------------------------------------------ blocks and counters

/** @param {BlockEvent} b */
function addBlock(b) {
  const box = byId("blocks");
  const card = el("div", { class: "card" });
  card.append(el("div", { class: "target" }, `${b.host}${b.port ? `:${b.port}` : ""} · ${b.reason}`));
  card.append(el("div", { class: "meta" }, `${b.method ?? b.protocol} via ${b.protocol} · ${clock(b.timestamp * 1000)}`));
  card.append(el("div", { class: "why" }, b.explain));
  if (b.hint) card.append(el("div", { class: "hint" }, `To allow it: ${b.hint}`));
  box.prepend(card);
  while (box.children.length > MAX_BLOCKS) box.lastElementChild?.remove();
  byId("blocks-empty").hidden = true;
}

/**
 * The sum of one metric's samples (Prometheus text), over the label sets `keep` accepts.
 * @param {string} text
 * @param {string} metric
 * @param {(labels: string) => boolean} [keep]
 */
function sum(text, metric, keep = () => true) {
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] === metric && keep(m[2] ?? "")) total += Number(m[3]);
  }
  return total;
}

async function counters() {
  const r = await api("/metrics");
  if (!r.ok) return;
  const t = await r.text();
  byId("c-allowed").textContent = String(sum(t, "cnp_requests_total", (l) => !l.includes('decision="block"')));
  byId("c-blocked").textContent = String(sum(t, "cnp_requests_total", (l) => l.includes('decision="block"')));
  byId("c-connections").textContent = String(sum(t, "cnp_active_connections"));
  byId("c-tunnels").textContent = String(sum(t, "cnp_active_tunnels"));
}

// ------------------------------------------------------------------ wiring

function wire() {
  on("hello", (/** @type {{ mode: string, pending: Pending[], rules: RuntimeRule[] }} */ h) => {
    setMode(h.mode);
    pending.clear();
    for (const p of h.pending) pending.set(p.id, p);
    renderPending();
    renderRules(h.rules);
  });
  on("rules", renderRules);
  on("decision", addDecision);
  on("block", addBlock);
  on("pending", (/** @type {Pending} */ p) => {
    pending.set(p.id, p);
    renderPending();
  });
  on("answered", (/** @type {{ id: number }} */ a) => {
    pending.delete(a.id);
    renderPending();
  });
  on("mode", (/** @type {{ mode: string }} */ m) => setMode(m.mode));
  on("dropped", (/** @type {number} */ n) => {
    byId("status").textContent = `live (${n} events skipped while busy)`;
  });
}

/** @type {ReturnType<typeof setInterval> | undefined} */
let poll;

async function start() {
  byId("signin").hidden = true;
  byId("app").hidden = false;
  const blocked = await api("/blocked");
  if (blocked.ok) {
    const list = /** @type {{ blocked: BlockEvent[] }} */ (await blocked.json()).blocked;
    for (const b of list.slice(-MAX_BLOCKS)) addBlock(b);
  }
  void live();
  await counters();
  poll = setInterval(counters, 2000);
}

function signedOut() {
  sessionStorage.removeItem(SESSION_KEY);
  location.reload();
}

async function main() {
  wire();
  for (const id of ["f-host", "f-decision", "f-protocol"]) byId(id).addEventListener("input", refilter);
  byId("mode-switch").addEventListener("click", async () => {
    const r = await api("/mode", { method: "POST", body: JSON.stringify({ mode: mode === "full" ? "limited" : "full" }) });
    if (!r.ok) byId("status").textContent = `mode switch failed: ${await errorOf(r)}`;
  });
  byId("signout").addEventListener("click", async () => {
    clearInterval(poll);
    await api("/logout", { method: "POST", body: "{}" });
    signedOut();
  });
  byId("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("/login", { method: "POST", body: JSON.stringify({ token: field("token").value.trim() }) });
    if (r.ok) {
      sessionStorage.setItem(SESSION_KEY, /** @type {{ session: string }} */ (await r.json()).session);
      return start();
    }
    byId("signin-error").textContent = r.status === 401 ? "That is not the admin token." : `Sign-in failed (${r.status}).`;
  });
  const s = /** @type {{ signed_in: boolean }} */ (await (await api("/session")).json());
  if (s.signed_in) await start();
  else {
    byId("signin").hidden = false;
    field("token").focus();
  }
}

void main();
