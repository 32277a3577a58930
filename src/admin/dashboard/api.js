// @ts-check
/**
 * The dashboard's connection to the admin API (the page's first script part; app.js follows it
 * in the same module): the shapes it reads, calls with the session's header, and the event
 * stream. Plain JavaScript, type-checked against the DOM by this folder's tsconfig.json.
 */
/**
 * One finished request, as the live stream reports it.
 * @typedef {object} Decision
 * @property {number} time
 * @property {string} protocol
 * @property {string | null} method
 * @property {string} target
 * @property {string} decision
 * @property {string | null} reason
 * @property {string | null} rule
 * @property {number} status
 * @property {string | null} detail
 */
/**
 * A host waiting for an answer.
 * @typedef {object} Pending
 * @property {number} id
 * @property {string} host
 * @property {number} port
 * @property {string} protocol
 * @property {string | null} method
 * @property {string} client
 * @property {number} first_seen
 * @property {number} waiting
 * @property {{ protocol: string, method: string | null, client: string }[]} attempts
 * @property {Record<string, string | null>} scopes  the pattern each scope makes; null: not offered
 */
/**
 * A rule an answer added for this session.
 * @typedef {object} RuntimeRule
 * @property {number} id
 * @property {"allow" | "deny"} list
 * @property {string} pattern
 * @property {string} by
 * @property {number} at
 */
/**
 * A recent block, with the explanation and the fix.
 * @typedef {object} BlockEvent
 * @property {number} id
 * @property {string} host
 * @property {number | null} port
 * @property {string} reason
 * @property {string} protocol
 * @property {string | null} method
 * @property {string} explain
 * @property {string | null} hint
 * @property {number} timestamp
 */

/** The session's second value (see dashboard.ts): per tab, for this origin only. */
const SESSION_KEY = "cnp_session";

/**
 * A call to the admin API with the session's cookie and header.
 * @param {string} path
 * @param {RequestInit} [init]
 */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  const session = sessionStorage.getItem(SESSION_KEY);
  if (session) headers.set("x-codex-network-proxy", session);
  if (init.method && init.method !== "GET") headers.set("content-type", "application/json");
  return fetch(path, { ...init, headers, credentials: "same-origin" });
}

/**
 * @param {Response} r
 * @returns {Promise<string>}
 */
async function errorOf(r) {
  const body = /** @type {{ error?: string }} */ (await r.json().catch(() => ({})));
  return body.error ?? `HTTP ${r.status}`;
}

/** @type {Record<string, (data: any) => void>} */
const handlers = {};
/**
 * @param {string} name
 * @param {(data: any) => void} handle
 */
function on(name, handle) {
  handlers[name] = handle;
}

/**
 * The event stream, read with fetch (EventSource cannot send the session header), reconnecting
 * after a pause when it ends. A 401 means the session is over: back to sign-in.
 */
async function live() {
  for (;;) {
    let res;
    try {
      res = await api("/events");
    } catch {
      res = null;
    }
    if (res?.status === 401) return signedOut();
    if (res?.ok && res.body) {
      byId("status").textContent = "live";
      await readEvents(res.body).catch(() => {});
    }
    byId("status").textContent = "reconnecting…";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** @param {ReadableStream<Uint8Array>} body */
async function readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    text += decoder.decode(value, { stream: true });
    for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (type && data !== undefined) handlers[type]?.(JSON.parse(data));
    }
  }
}
