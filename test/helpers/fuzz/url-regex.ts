/**
 * parseAbsoluteUrl and parsePort (src/policy/target.ts) as they were before their scans were
 * written out by hand: regular expressions and one scan per check. The reference the faster
 * versions must agree with, result for result and error for error (target.fuzz.test.ts).
 */
import { parseAuthority, TargetError, type AbsoluteUrl } from "../../../src/policy/target.ts";

/** The old parsePort: a regular expression, then the range. */
export function regexPort(s: string): number {
  if (!/^[1-9][0-9]{0,4}$/.test(s)) {
    throw new TargetError("invalid_port", `invalid port ${JSON.stringify(s)}: expected 1-65535 without sign or leading zeros`);
  }
  const n = Number(s);
  if (n > 65535) throw new TargetError("invalid_port", `invalid port ${JSON.stringify(s)}: expected 1-65535`);
  return n;
}

export function regexAbsoluteUrl(url: string): AbsoluteUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  if (!m) throw new TargetError("bad_url", `not an absolute http:// URL: ${JSON.stringify(url.slice(0, 80))}`);
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "http" && scheme !== "https") {
    throw new TargetError(
      "bad_url",
      `unsupported scheme ${JSON.stringify(scheme)}: only http:// (and https://) URLs can be proxied; use CONNECT for other protocols`,
    );
  }
  if (url.includes("#")) throw new TargetError("bad_url", "a request-target must not contain a fragment (#)");
  if (url.includes("\\")) throw new TargetError("bad_url", "a request-target must not contain a backslash");
  const rest = url.slice(m[0].length);
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 0x2f || c === 0x3f) {
      end = i;
      break;
    }
  }
  const authority = rest.slice(0, end);
  let path = rest.slice(end);
  if (path === "") path = "/";
  else if (path.startsWith("?")) path = "/" + path;
  const target = parseAuthority(authority, scheme === "https" ? 443 : 80, { fromUrl: true });
  return { scheme, target, path };
}
