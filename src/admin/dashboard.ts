/**
 * The dashboard: one page served by the admin listener itself (`GET /`; its HTML, CSS and
 * script are inside the program, no external assets), and its sign-in.
 *
 * Sign-in: the page sends the admin token once (`POST /login`); the answer is a random session id
 * in an `HttpOnly; SameSite=Strict` cookie for the admin origin, so script on the page never
 * holds the token, and other sites' pages cannot send the cookie. A cookie counts only for GETs
 * and for mutating calls that also carry the `x-codex-network-proxy` header, which a cross-site
 * form or a "simple" cross-site fetch cannot set; the Host and Origin checks in front hold for
 * everything. Sessions live in memory: they end when the proxy stops or its token changes.
 */
// Text imports: Bun embeds both files' text in the program. The server's TypeScript program does
// not load app.js (browser code, checked against the DOM by its own tsconfig) and types page.html
// as an HTML bundle; both are strings here.
// @ts-expect-error (see above)
import appSource from "./dashboard/app.js" with { type: "text" };
import pageSource from "./dashboard/page.html" with { type: "text" };
import { bearerMatches, newToken } from "./token.ts";
import { json, jsonError, readJson, type Route } from "./routes.ts";

export const COOKIE = "cnp_admin";
/** The header that makes a cookie-authenticated call a call from our page. */
export const PAGE_HEADER = "x-codex-network-proxy";

/** Sessions kept at once; signing in past this ends the oldest. */
export const MAX_SESSIONS = 32;

export class Sessions {
  readonly #byId = new Map<string, string>();

  /** A new session for whoever proved they hold `token`; its cookie. */
  create(token: string | null): string {
    const id = newToken();
    if (this.#byId.size >= MAX_SESSIONS) this.#byId.delete(this.#byId.keys().next().value!);
    this.#byId.set(id, token ?? "");
    return `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** Does the request carry a session made with the current token? */
  valid(req: Request, token: string | null): boolean {
    const id = cookieValue(req.headers.get("cookie"), COOKIE);
    if (id === null) return false;
    const madeWith = this.#byId.get(id);
    if (madeWith === undefined) return false;
    if (madeWith !== (token ?? "")) {
      this.#byId.delete(id); // the token changed: sign in again
      return false;
    }
    return true;
  }

  end(req: Request): void {
    const id = cookieValue(req.headers.get("cookie"), COOKIE);
    if (id !== null) this.#byId.delete(id);
  }
}

function cookieValue(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return null;
}

let built: { html: string; csp: string } | null = null;

/** The page with its script inline, and a policy that lets only that exact script run. */
function page(): { html: string; csp: string } {
  if (built) return built;
  const script = String(appSource);
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
        return json({ status: "signed in" }, 200, { "set-cookie": sessions.create(t) });
      },
    },
    "/logout": {
      method: "POST",
      handler: (req) => {
        sessions.end(req);
        return json({ status: "signed out" }, 200, { "set-cookie": `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
      },
    },
  };
}
