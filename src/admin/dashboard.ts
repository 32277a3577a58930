/**
 * The dashboard: one page served by the admin listener itself (`GET /`; its HTML, CSS and
 * script are inside the program, no external assets), and its sign-in.
 *
 * Sign-in: the page sends the admin token once (`POST /login`) and gets a session made of two
 * random values. One is a cookie (`HttpOnly; SameSite=Strict`): script, even script injected
 * into the page, cannot read it, and other sites' pages cannot make the browser send it. The
 * other comes back in the response body; the page keeps it in sessionStorage, which belongs to
 * the admin origin alone, and sends it in the `x-codex-network-proxy` header with every call.
 * Both are needed. The header is what cookies cannot give: browsers send a cookie for
 * 127.0.0.1 to every port on it, so any local web server the browser visits would receive it,
 * but that server never sees the header value, and a cross-site form or "simple" fetch cannot
 * set a header at all. The Host and Origin checks in front hold for everything. Sessions live
 * in memory: they end when the proxy stops, its token changes, or the page signs out.
 */
// Text imports: Bun embeds the files' text in the program. The server's TypeScript program does
// not load the .js files (browser code, checked against the DOM by their own tsconfig) and types
// page.html as an HTML bundle; all are strings here.
// @ts-expect-error (see above)
import apiSource from "./dashboard/api.js" with { type: "text" };
// @ts-expect-error (see above)
import appSource from "./dashboard/app.js" with { type: "text" };
import pageSource from "./dashboard/page.html" with { type: "text" };
import { constantTimeEqual } from "../secret-compare.ts";
import { bearerMatches, newToken } from "./token.ts";
import { json, jsonError, readJson, type Route } from "./routes.ts";

export const COOKIE = "cnp_admin";
/** The header that carries a session's second value (see above). */
export const PAGE_HEADER = "x-codex-network-proxy";

/** Sessions kept at once; signing in past this ends the oldest. */
export const MAX_SESSIONS = 32;

interface Session {
  /** The admin token the session was made with: a new token ends it. */
  readonly token: string;
  readonly secret: string;
}

export class Sessions {
  readonly #byId = new Map<string, Session>();

  /** A new session for whoever proved they hold `token`: its cookie and its header value. */
  create(token: string | null): { cookie: string; secret: string } {
    const id = newToken();
    const secret = newToken();
    if (this.#byId.size >= MAX_SESSIONS) this.#byId.delete(this.#byId.keys().next().value!);
    this.#byId.set(id, { token: token ?? "", secret });
    return { cookie: `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/`, secret };
  }

  /** The id of the session the request proves (cookie and header together), or null. */
  #find(req: Request, token: string | null): string | null {
    const given = req.headers.get(PAGE_HEADER);
    if (!given) return null;
    // Every cookie of our name counts: another port on this host can add one (cookies do not
    // keep ports apart), and a decoy must not hide the real one.
    for (const id of cookieValues(req.headers.get("cookie"), COOKIE)) {
      const s = this.#byId.get(id);
      if (!s) continue;
      if (s.token !== (token ?? "")) {
        this.#byId.delete(id); // the token changed: sign in again
        continue;
      }
      if (constantTimeEqual(Buffer.from(given), Buffer.from(s.secret))) return id;
    }
    return null;
  }

  valid(req: Request, token: string | null): boolean {
    return this.#find(req, token) !== null;
  }

  end(req: Request, token: string | null): void {
    const id = this.#find(req, token);
    if (id !== null) this.#byId.delete(id);
  }
}

function cookieValues(header: string | null, name: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) out.push(v.join("="));
  }
  return out;
}

let built: { html: string; csp: string } | null = null;

/** The page with its script inline, and a policy that lets only that exact script run. */
function page(): { html: string; csp: string } {
  if (built) return built;
  // One module: the API part, then the page part that uses it.
  const script = `${String(apiSource)}\n${String(appSource)}`;
  const hash = new Bun.CryptoHasher("sha256").update(script).digest("base64");
  built = {
    html: String(pageSource).replace("/*APP*/", () => script),
    // Everything is inline and same-origin; nothing else may run, load or frame it.
    csp: `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
  };
  return built;
}

export function dashboardRoutes(sessions: Sessions, token: () => string | null): Readonly<Record<string, Route>> {
  return {
    "/": {
      method: "GET",
      handler: () =>
        new Response(page().html, {
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "content-security-policy": page().csp,
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
          },
        }),
    },
    "/session": { method: "GET", handler: (req) => json({ signed_in: token() === null || sessions.valid(req, token()), auth: token() !== null }) },
    "/login": {
      method: "POST",
      handler: async (req) => {
        const body = await readJson(req);
        if (body instanceof Response) return body;
        const given = (body as { token?: unknown } | null)?.token;
        const t = token();
        if (t !== null && (typeof given !== "string" || !bearerMatches(`Bearer ${given}`, t))) {
          return jsonError("admin_unauthorized", "wrong token");
        }
        const { cookie, secret } = sessions.create(t);
        return json({ status: "signed in", session: secret }, 200, { "set-cookie": cookie });
      },
    },
    "/logout": {
      method: "POST",
      handler: (req) => {
        sessions.end(req, token());
        return json({ status: "signed out" }, 200, { "set-cookie": `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
      },
    },
  };
}
