/**
 * Fuzz: pattern parsing and matching (src/policy/pattern.ts, rules.ts, rule-set.ts) and the pure decision
 * (judgeTarget, judgeAddresses in src/policy/decide.ts). Patterns are generated as intended
 * specs, spelled out as text in many ways (case, trailing dots, Unicode, IP spellings,
 * brackets, ports), parsed, compiled, and checked against a slow reference matcher.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { judgeAddresses, judgeTarget, type DialAddr, type SelfAddr } from "../../src/policy/decide.ts";
import { parsePattern, PatternError, type ListName } from "../../src/policy/pattern.ts";
import { compilePolicy } from "../../src/policy/rules.ts";
import type { Target } from "../../src/policy/target.ts";
import { mutatedString, outcome } from "../helpers/fuzz/mutate.ts";
import { asCidr, certainlyLocal, ipv4GlobOf, isExplicit, refDenies, refMatches, whatwgIpv4, type PatternSpec } from "../helpers/fuzz/ref-host.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

// ------------------------------------------------------------------------------- generators: specs

const port = fc.constantFrom(22, 80, 443, 8080);
const optPort = fc.option(port, { nil: null, freq: 3 });

const wordLabel = fc.stringMatching(/^[a-z][a-z0-9-]{0,5}$/).filter((l) => !l.startsWith("xn--"));
const fixedLabel = fc.oneof(
  { weight: 6, arbitrary: wordLabel },
  { weight: 1, arbitrary: fc.constantFrom("a", "b", "com", "example", "xn--bcher-kva", "_dmarc", "a_b", "localhost") },
);
/** Labels that look like numbers: fine inside a name, but URL parsers read a name ending in one as IPv4. */
const numericLabel = fc.constantFrom("1", "10", "0x1", "255");
const nameLabel = fc.oneof({ weight: 8, arbitrary: fixedLabel }, { weight: 1, arbitrary: numericLabel });

/** A canonical domain name (its last label is not a number). */
const canonicalName = fc
  .array(nameLabel, { minLength: 1, maxLength: 4 })
  .map((ls) => ls.join("."))
  .filter((n) => whatwgIpv4(n) === "not-ipv4");

/** Label globs, up to many stars (matching is linear; see found-by-fuzzing.test.ts). */
const globLabel = fc.constantFrom("*", "a*", "*b", "a*b", "*a*", "x*-*", "*1", "*a*a*a*a*a*b", "a*b*c*d*e*f*g*h");
const lead = fc.constantFrom("" as const, "*." as const, "**." as const);

const v4Pool = [
  "127.0.0.1",
  "10.0.0.1",
  "10.1.2.3",
  "192.168.1.1",
  "8.8.8.8",
  "1.1.1.1",
  "100.64.0.1",
  "169.254.169.254",
  "0.0.0.0",
  "255.255.255.255",
  "224.0.0.1",
  "93.184.216.34",
];
const v6Pool = [
  "::1",
  "::",
  "fd00::1",
  "fe80::1",
  "2001:db8::1",
  "2606:4700::1111",
  "64:ff9b::808:808",
  "64:ff9b::a00:1",
  "2002:808:808::1",
  "::7f00:1",
  "2a00:1450::1",
];
/** Addresses that are public beyond doubt. */
const PUBLIC = new Set(["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "2a00:1450::1"]);
const v4 = fc.oneof(
  fc.constantFrom(...v4Pool),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Array.from(b).join(".")),
);
const v6 = fc
  .oneof(
    fc.constantFrom(...v6Pool),
    fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => (ipaddr.fromByteArray(Array.from(b)) as ipaddr.IPv6).toString()),
  )
  .filter((h) => !ipaddr.IPv6.parse(h).isIPv4MappedAddress());

const MAPPED = ipaddr.IPv6.parse("::ffff:0:0");

const cidrSpec: fc.Arbitrary<PatternSpec> = fc.oneof(
  fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([h, bits]) => {
    const n = ipaddr.IPv4.parse(h)
      .toByteArray()
      .reduce((a, b) => a * 256 + b, 0);
    const net = bits === 0 ? 0 : Number((BigInt(n) >> BigInt(32 - bits)) << BigInt(32 - bits));
    return {
      form: "cidr" as const,
      kind: "ipv4" as const,
      net: ipaddr.fromByteArray([net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255]).toString(),
      bits,
    };
  }),
  fc
    .tuple(v6, fc.integer({ min: 1, max: 128 }))
    .map(([h, bits]) => ({ form: "cidr" as const, kind: "ipv6" as const, net: ipaddr.IPv6.networkAddressFromCIDR(`${h}/${bits}`).toString(), bits }))
    // Blocks touching ::ffff:0:0/96 are refused on purpose (they are judged as IPv4).
    .filter((c) => !ipaddr.IPv6.parse(c.net).match(MAPPED, 96) && !(c.bits < 96 && MAPPED.match(ipaddr.IPv6.parse(c.net), c.bits))),
);

const spec: fc.Arbitrary<PatternSpec> = fc.oneof(
  { weight: 1, arbitrary: optPort.map((p) => ({ form: "any" as const, port: p })) },
  { weight: 5, arbitrary: fc.record({ form: fc.constant("name" as const), lead, name: canonicalName, port: optPort }) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        form: fc.constant("glob" as const),
        lead,
        before: fc.array(nameLabel, { maxLength: 2 }),
        glob: globLabel,
        after: fc.array(fixedLabel, { maxLength: 2 }),
        port: optPort,
      })
      .filter((g) => g.after.length === 0 || whatwgIpv4(g.after.join(".")) === "not-ipv4")
      // A leading lone "*" label is the global wildcard ("*") or the "*." lead, not a one-label glob.
      .filter((g) => !(g.lead === "" && g.before.length === 0 && g.glob === "*"))
      .map((g) => ({ form: "glob" as const, lead: g.lead, labels: [...g.before, g.glob, ...g.after], port: g.port }))
      // IPv4-looking globs that are not `10.*`-style CIDR blocks (`10.*1`, `*.10.*`) are refused on purpose.
      .filter((g) => ipv4GlobOf(g) !== "invalid"),
  },
  { weight: 2, arbitrary: fc.record({ form: fc.constant("ip" as const), kind: fc.constant("ipv4" as const), host: v4, port: optPort }) },
  { weight: 2, arbitrary: fc.record({ form: fc.constant("ip" as const), kind: fc.constant("ipv6" as const), host: v6, port: optPort }) },
  { weight: 2, arbitrary: cidrSpec },
);

// ------------------------------------------------------------------------------- spelling specs as text

/** Pairs of (Unicode, punycode) labels: a name may be written either way. */
const IDN: Record<string, string> = { "xn--bcher-kva": "bücher" };

const spelling = fc.record({
  upper: fc.array(fc.nat(), { maxLength: 3 }),
  dot: fc.boolean(),
  unicode: fc.boolean(),
  v4form: fc.constantFrom("dotted", "int", "hex", "octal"),
  v6form: fc.constantFrom("compressed", "full", "upper"),
  bracket: fc.boolean(),
  space: fc.boolean(),
});
type Spelling = typeof spelling extends fc.Arbitrary<infer S> ? S : never;

function upperAt(s: string, at: readonly number[]): string {
  let out = s;
  for (const a of at) {
    const i = a % Math.max(1, out.length);
    out = out.slice(0, i) + out.charAt(i).toUpperCase() + out.slice(i + 1);
  }
  return out;
}

function spellV4(h: string, form: string): string {
  const n = ipaddr.IPv4.parse(h)
    .toByteArray()
    .reduce((a, b) => a * 256 + b, 0);
  if (form === "int") return String(n);
  if (form === "hex") return "0x" + n.toString(16);
  if (form === "octal")
    return h
      .split(".")
      .map((o) => (o === "0" ? "0" : "0" + Number(o).toString(8)))
      .join(".");
  return h;
}

function spellV6(h: string, form: string): string {
  const a = ipaddr.IPv6.parse(h);
  return form === "full" ? a.toNormalizedString() : form === "upper" ? h.toUpperCase() : h;
}

/** Write a spec as a config entry, one of the many ways it may be written. */
function spell(p: PatternSpec, s: Spelling): string {
  const withPort = (host: string, pt: number | null) => (pt === null ? host : `${host}:${pt}`);
  let text: string;
  switch (p.form) {
    case "any":
      text = withPort("*", p.port);
      break;
    case "name": {
      const labels = p.name.split(".").map((l) => (s.unicode && IDN[l] ? IDN[l]! : l));
      text = withPort(p.lead + upperAt(labels.join("."), s.upper) + (s.dot ? "." : ""), p.port);
      break;
    }
    case "glob":
      text = withPort(p.lead + upperAt(p.labels.join("."), s.upper), p.port);
      break;
    case "ip":
      if (p.kind === "ipv4") text = withPort(spellV4(p.host, s.v4form), p.port);
      else text = p.port !== null || s.bracket ? withPort(`[${spellV6(p.host, s.v6form)}]`, p.port) : spellV6(p.host, s.v6form);
      break;
    case "cidr":
      text = p.kind === "ipv4" ? `${p.net}/${p.bits}` : `${s.bracket ? `[${spellV6(p.net, s.v6form)}]` : spellV6(p.net, s.v6form)}/${p.bits}`;
      break;
  }
  return s.space ? ` ${text} ` : text;
}

const spelled = fc.tuple(spec, spelling).map(([p, s]) => ({ spec: p, text: spell(p, s) }));

// ------------------------------------------------------------------------------- targets

/** A name the spec matches (a glob instantiated, a lead filled in), or null. */
function instance(p: PatternSpec, fill: readonly string[]): string | null {
  let i = 0;
  const next = () => fill[i++ % Math.max(1, fill.length)] ?? "q";
  let labels: string[];
  if (p.form === "name") labels = p.name.split(".");
  else if (p.form === "glob" && asCidr(p).form === "glob") labels = p.labels.map((l) => l.replace(/\*/g, () => next()) || "z");
  else return null;
  if (p.lead === "*.") labels = [next() || "w", ...labels];
  const name = labels.join(".");
  return whatwgIpv4(name) === "not-ipv4" && labels.every((l) => l !== "" && l.length <= 63) ? name : null;
}

const fill = fc.array(fc.stringMatching(/^[a-z0-9-]{0,3}$/), { minLength: 1, maxLength: 4 });

/** Interesting addresses for a CIDR: its first and last address and the neighbours outside. */
function cidrEdges(spec: PatternSpec): string[] {
  const p = asCidr(spec);
  if (p.form !== "cidr") return [];
  const bytes = ipaddr.parse(p.net).toByteArray();
  const width = bytes.length * 8;
  const n = bytes.reduce((a, b) => (a << 8n) | BigInt(b), 0n);
  const size = 1n << BigInt(width - p.bits);
  const max = (1n << BigInt(width)) - 1n;
  const toHost = (x: bigint) => {
    const out: number[] = [];
    for (let k = 0; k < bytes.length; k++) out.unshift(Number((x >> BigInt(8 * k)) & 255n));
    const a = ipaddr.fromByteArray(out);
    return a.kind() === "ipv6" && (a as ipaddr.IPv6).isIPv4MappedAddress() ? null : a.toString();
  };
  const last = n + size - 1n;
  const out = [toHost(n), toHost(last)];
  if (n > 0n) out.push(toHost(n - 1n));
  if (last < max) out.push(toHost(last + 1n));
  return out.filter((h): h is string => h !== null);
}

function targetPool(specs: readonly PatternSpec[], fills: readonly string[]): Target[] {
  const out: Target[] = [];
  const ports = [22, 80, 443, 8080];
  const add = (kind: Target["kind"], host: string) => {
    for (const pt of ports) out.push({ kind, host, port: pt });
  };
  for (const p of specs) {
    const name = instance(p, fills);
    if (name) {
      add("domain", name);
      add("domain", `x.${name}`);
    }
    if (p.form === "name") add("domain", p.name);
    if (p.form === "ip") add(p.kind, p.host);
    for (const h of cidrEdges(p)) add(h.includes(":") ? "ipv6" : "ipv4", h);
  }
  for (const h of v4Pool) add("ipv4", h);
  for (const h of v6Pool) add("ipv6", h);
  for (const h of ["localhost", "a.localhost", "example.com", "a.example.com", "evil.example"]) add("domain", h);
  return out;
}

// ------------------------------------------------------------------------------- helpers

function compile(allow: readonly string[], deny: readonly string[] = [], allowLocalBinding = false) {
  return compilePolicy({ allowed_domains: allow, denied_domains: deny, allow_unix_sockets: [], allow_local_binding: allowLocalBinding });
}

const isPatternError = (e: unknown) => e instanceof PatternError;
const messageOf = (e: unknown) => (e as Error).message;

// ------------------------------------------------------------------------------- properties

describe("fuzz: parsePattern", () => {
  const patternInsert = fc.constantFrom(
    "*",
    "**",
    ".",
    "..",
    ":",
    "::",
    "[",
    "]",
    "/",
    "%",
    " ",
    "?",
    "{",
    "\\",
    "@",
    "-",
    "_",
    "0",
    "x",
    "ü",
    "．",
    "0x",
    ":443",
    ":0",
    "/8",
    "/33",
    "/129",
    "%25eth0",
    "\0",
  );
  const patternText = mutatedString(
    fc.oneof(
      spelled.map((x) => x.text),
      fc.constantFrom(
        "*",
        "**",
        "*.",
        "**.",
        "*:22",
        "[::1]:8080",
        "10.0.0.0/8",
        "fd00::/8",
        "::ffff:0:0/96",
        "a..b.com",
        "[a.com]",
        "*.10.0.0.1",
        "10.0.0.1/8",
      ),
    ),
    patternInsert,
    3,
  );

  test(
    "throws only PatternError, for both lists, on any text",
    () => {
      fuzz(
        "policy: parsePattern robustness",
        fc.tuple(patternText, fc.constantFrom<ListName>("allowed_domains", "denied_domains")),
        ([raw, list]) => {
          const o = outcome(() => parsePattern(raw, list), isPatternError, messageOf);
          if (!o.ok) return;
          const p = o.value;
          expect(p.rule.raw).toBe(raw);
          expect(p.rule.list).toBe(list);
          if (p.rule.port !== null) expect(p.rule.port >= 1 && p.rule.port <= 65535).toBe(true);
          if (list === "denied_domains") expect(p.kind).not.toBe("any");
          if (p.kind === "name") {
            // The fixed suffix is a canonical name, never an IPv4 spelling; fixed labels are single labels.
            if (p.suffix !== "") expect({ raw, suffix: whatwgIpv4(p.suffix) }).toEqual({ raw, suffix: "not-ipv4" });
            for (const l of p.labels) {
              if (typeof l !== "string") continue;
              if (!/^[a-z0-9_-]+$/.test(l)) throw new Error(`${JSON.stringify(raw)} compiled to the label ${JSON.stringify(l)}`);
            }
          }
          // Compiling what parsed must not fail either.
          const { problems } = compile(list === "allowed_domains" ? [raw] : [], list === "denied_domains" ? [raw] : []);
          expect(problems).toEqual([]);
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "every way of writing a valid pattern parses, and the compiled rule matches what it names (and not the address next to a CIDR block)",
    () => {
      fuzz(
        "policy: pattern self-match",
        fc.tuple(spelled, fill, port),
        ([{ spec: p, text }, fl, pt]) => {
          const parsed = outcome(() => parsePattern(text, "allowed_domains"), isPatternError, messageOf);
          if (!parsed.ok) throw new Error(`${JSON.stringify(text)} (${JSON.stringify(p)}) was refused: ${parsed.code}`);
          expect({ text, explicit: parsed.value.rule.explicit }).toEqual({ text, explicit: isExplicit(p) });
          const set = compile([text]).policy.allow;
          const portOf = (): number => (p.form !== "cidr" && p.port !== null ? p.port : pt);
          const name = instance(p, fl);
          const asBlock = asCidr(p).form === "cidr";
          const targets: Target[] =
            p.form === "ip"
              ? [{ kind: p.kind, host: p.host, port: portOf() }]
              : asBlock
                ? cidrEdges(p).map((h) => ({ kind: h.includes(":") ? "ipv6" : "ipv4", host: h, port: portOf() }))
                : name
                  ? [{ kind: "domain", host: name, port: portOf() }]
                  : [];
          if (p.form === "name" && p.lead === "**.") targets.push({ kind: "domain", host: p.name, port: portOf() });
          for (const t of targets) {
            const want = refMatches(p, t);
            if (!asBlock) expect({ text, t, want }).toEqual({ text, t, want: true });
            expect({ text, t, got: set.match(t) !== null }).toEqual({ text, t, got: want });
          }
          // Leads: `*.` never matches the apex itself, `**.` does.
          if (p.form === "name" && p.lead !== "")
            expect({ text, apex: set.match({ kind: "domain", host: p.name, port: portOf() }) !== null }).toEqual({ text, apex: p.lead === "**." });
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: compilePolicy", () => {
  test(
    "never throws, and reports exactly the entries parsePattern refuses (first spelling of each), by index",
    () => {
      const entry = mutatedString(
        spelled.map((x) => x.text),
        fc.constantFrom("*", ".", ":", "/", "[", "?", " ", "A", "0"),
        2,
      );
      fuzz(
        "policy: compilePolicy problems",
        fc.tuple(fc.array(entry, { maxLength: 8 }), fc.array(entry, { maxLength: 4 })),
        ([allow, deny]) => {
          const { problems } = compile(allow, deny);
          const expected: string[] = [];
          for (const [list, entries] of [
            ["allowed_domains", allow],
            ["denied_domains", deny],
          ] as const) {
            const seen = new Set<string>();
            entries.forEach((raw, i) => {
              const key = raw.trim().toLowerCase();
              if (seen.has(key)) return;
              seen.add(key);
              if (!outcome(() => parsePattern(raw, list), isPatternError, messageOf).ok) expected.push(`network_proxy.policy.${list}[${i}]`);
            });
          }
          expect(problems.map((p) => p.key)).toEqual(expected);
          for (const p of problems) expect(p.severity).toBe("error");
        },
        { base: 500, weight: 0.2 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: RuleSet.match", () => {
  test(
    "the indexed matcher agrees with the slow reference matcher on random policies and targets",
    () => {
      fuzz(
        "policy: indexed matcher vs reference",
        fc.tuple(fc.array(spelled, { maxLength: 10 }), fill, fc.array(fc.nat(), { minLength: 1, maxLength: 10 })),
        ([entries, fl, picks]) => {
          const kept = entries;
          const { policy, problems } = compile(kept.map((e) => e.text));
          expect(problems).toEqual([]);
          const pool = targetPool(
            kept.map((e) => e.spec),
            fl,
          );
          for (const k of picks) {
            const t = pool[k % pool.length]!;
            const want = kept.some((e) => refMatches(e.spec, t));
            const got = policy.allow.match(t);
            if ((got !== null) !== want)
              throw new Error(`${JSON.stringify(kept.map((e) => e.text))} on ${JSON.stringify(t)}: indexed=${got?.raw ?? null} reference=${want}`);
            const explicitWant = kept.some((e) => isExplicit(e.spec) && refMatches(e.spec, t));
            expect({ t, explicit: policy.allow.match(t, { explicitOnly: true }) !== null }).toEqual({ t, explicit: explicitWant });
          }
        },
        { base: 1000, weight: 0.5 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe("fuzz: judgeTarget and judgeAddresses", () => {
  const self = fc.subarray<SelfAddr>([
    { host: "127.0.0.1", port: 3128 },
    { host: "127.0.0.1", port: 8080 },
    { host: "0.0.0.0", port: 443 },
    { host: "::", port: 80 },
    { host: "8.8.8.8", port: 443 },
  ]);
  const policyInput = fc.record({
    allow: fc.array(spelled, { maxLength: 6 }),
    deny: fc.array(
      spelled.filter((x) => x.spec.form !== "any"),
      { maxLength: 3 },
    ),
    local: fc.boolean(),
    fill,
    pick: fc.nat(),
    self,
  });

  test(
    "a denylisted target is never allowed, a local one only when allow_local_binding or an explicit entry unlocks it, and an allowed target matches the allowlist",
    () => {
      fuzz(
        "policy: judgeTarget invariants",
        policyInput,
        ({ allow, deny, local, fill: fl, pick, self: me }) => {
          const allowK = allow;
          const denyK = deny;
          const { policy, problems } = compile(
            allowK.map((e) => e.text),
            denyK.map((e) => e.text),
            local,
          );
          expect(problems).toEqual([]);
          const pool = targetPool(
            [...allowK, ...denyK].map((e) => e.spec),
            fl,
          );
          const t = pool[pick % pool.length]!;
          const d = judgeTarget(policy, t, { self: me });
          const say = () =>
            JSON.stringify({
              allow: allowK.map((e) => e.text),
              deny: denyK.map((e) => e.text),
              local,
              self: me,
              t,
              verdict: d.verdict,
              reason: d.verdict === "block" ? d.reason : null,
            });

          const denied = denyK.some((e) => refDenies(e.spec, t));
          const localhostName = t.kind === "domain" && (t.host === "localhost" || t.host.endsWith(".localhost"));
          const deniedLoopback =
            localhostName &&
            denyK.some(
              (e) => refDenies(e.spec, { kind: "ipv4", host: "127.0.0.1", port: t.port }) || refDenies(e.spec, { kind: "ipv6", host: "::1", port: t.port }),
            );
          const allowed = allowK.some((e) => refMatches(e.spec, t));
          const explicit = allowK.some((e) => isExplicit(e.spec) && refMatches(e.spec, t));
          const isLocal = t.kind === "domain" ? localhostName : certainlyLocal(t.kind, t.host);
          const own = t.kind !== "domain" && me.some((s) => s.port === t.port && s.host === t.host);

          if (denied) {
            if (d.verdict !== "block" || d.reason !== "denied") throw new Error(`a denylist entry matches, but: ${say()}`);
            return;
          }
          if (deniedLoopback && d.verdict === "allow") throw new Error(`localhost allowed although the denylist covers its loopback address: ${say()}`);
          if (d.verdict === "allow" || d.verdict === "resolve") {
            if (!allowed) throw new Error(`allowed without an allowlist match: ${say()}`);
            if (isLocal && !local && !explicit) throw new Error(`local target allowed without allow_local_binding or an explicit entry: ${say()}`);
            if (own) throw new Error(`one of our own listeners was allowed: ${say()}`);
          }
          if (d.verdict === "allow") {
            expect(d.addresses.length).toBeGreaterThan(0);
            if (t.kind !== "domain") expect(d.addresses).toEqual([{ kind: t.kind, host: t.host }]);
          }
          if (d.verdict === "resolve") expect(t.kind === "domain" && !localhostName).toBe(true);
          // Completeness: what the allowlist matches and nothing forbids is not blocked.
          const ownPort = me.some((s) => s.port === t.port);
          if (allowed || explicit) {
            let want: "allow" | "resolve" | null = null;
            if (t.kind === "domain" && !localhostName) want = "resolve";
            else if (localhostName && (local || explicit) && !deniedLoopback && !ownPort) want = "allow";
            else if (t.kind !== "domain" && (local || explicit || PUBLIC.has(t.host)) && !ownPort) want = "allow";
            if (want !== null && d.verdict !== want) throw new Error(`expected ${want}: ${say()}`);
          }
        },
        { base: 1200 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "resolved addresses: a denylisted or (without an unlock) local address is never dialed",
    () => {
      const addr = fc.oneof(
        v4.map((h): DialAddr => ({ kind: "ipv4", host: h })),
        v6.map((h): DialAddr => ({ kind: "ipv6", host: h })),
      );
      fuzz(
        "policy: judgeAddresses invariants",
        fc.tuple(policyInput, fc.array(addr, { minLength: 0, maxLength: 4 }), port),
        ([{ allow, deny, local, self: me }, addrs, pt]) => {
          const allowK = allow;
          const denyK = deny;
          const { policy } = compile(
            allowK.map((e) => e.text),
            denyK.map((e) => e.text),
            local,
          );
          const t: Target = { kind: "domain", host: "resolved.example", port: pt };
          const d = judgeAddresses(policy, t, null, addrs, { self: me });
          if (d.verdict !== "allow") return;
          expect(d.addresses).toEqual(addrs);
          expect(addrs.length).toBeGreaterThan(0);
          for (const a of addrs) {
            const at = { kind: a.kind, host: a.host, port: pt };
            if (denyK.some((e) => (e.spec.form === "ip" || e.spec.form === "cidr") && refDenies(e.spec, at))) throw new Error(`dialing denylisted ${a.host}`);
            if (!local && certainlyLocal(a.kind, a.host) && !allowK.some((e) => (e.spec.form === "ip" || e.spec.form === "cidr") && refMatches(e.spec, at))) {
              throw new Error(`dialing local ${a.host} without an unlock`);
            }
            if (me.some((s) => s.port === pt && s.host === a.host)) throw new Error(`dialing our own listener ${a.host}:${pt}`);
          }
        },
        { base: 1200 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
