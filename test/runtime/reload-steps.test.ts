/**
 * A reload reads and compiles the new config over several event-loop turns (config/steps.ts);
 * the config in force changes only when the new one is complete. These check what that must keep:
 * until then every target is judged by the old policy; a reload that fails or throws leaves the
 * old policy; reloads apply in the order asked; and compiling in slices gives the same policy
 * as compiling at once.
 */
import { describe, expect, test } from "bun:test";
import { diffConfig } from "../../src/config/diff.ts";
import { buildConfig, type ConfigSource, type LoadResult } from "../../src/config/load.ts";
import { runSteps, runStepsSliced } from "../../src/config/steps.ts";
import { Logger } from "../../src/log.ts";
import { judgeTarget } from "../../src/policy/decide.ts";
import { compilePolicy, compilePolicySteps } from "../../src/policy/rules.ts";
import { parseAuthority } from "../../src/policy/target.ts";
import { ProxyState } from "../../src/runtime/state.ts";

const source: ConfigSource = { path: "/cfg/config.toml", exists: true, dir: "/cfg", overrides: [] };
const allowing = (...hosts: string[]) => `[network_proxy.policy]\nallowed_domains = ${JSON.stringify(hosts)}\n`;
function config(text: string) {
  const r = buildConfig(text, source);
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.config;
}

/** A ProxyState whose reloads take their result from `next()` (a promise the test settles). */
function stateWith(next: () => LoadResult | Promise<LoadResult>) {
  const lines: string[] = [];
  const state = new ProxyState(
    config(allowing("old.example")),
    new Logger("debug", "text", { write: (l) => lines.push(l) }),
    async () => [{ kind: "ipv4" as const, host: "93.184.216.34" }],
    next,
  );
  return { state, lines };
}

async function verdict(state: ProxyState, authority: string): Promise<string> {
  const d = await state.evaluate(parseAuthority(authority, null));
  return d.verdict === "block" ? `block:${d.reason}` : d.verdict;
}

describe("a reload in progress", () => {
  test("targets are judged by the old policy until the new one is complete, then by the new one", async () => {
    const gate = Promise.withResolvers<LoadResult>();
    const loading = Promise.withResolvers<void>();
    const { state } = stateWith(() => {
      loading.resolve();
      return gate.promise;
    });
    const before = state.config;
    const done = state.reload();
    await loading.promise;
    expect(await verdict(state, "old.example:443")).toBe("allow");
    expect(await verdict(state, "new.example:443")).toBe("block:not_allowed");
    expect(state.config).toBe(before);
    gate.resolve({ ok: true, config: config(allowing("new.example")) });
    expect((await done).ok).toBe(true);
    expect(await verdict(state, "old.example:443")).toBe("block:not_allowed");
    expect(await verdict(state, "new.example:443")).toBe("allow");
  });

  test("a reload whose config is refused, or whose load throws, leaves the old policy in force", async () => {
    let next: () => LoadResult = () => buildConfig(`[network_proxy.policy]\nallowed_domains = ["new.example", "bad/99"]\n`, source);
    const { state, lines } = stateWith(() => next());
    const before = state.config;
    const refused = await state.reload();
    expect(refused.ok).toBe(false);
    expect(refused.problems.join("\n")).toContain("bad/99");
    next = () => {
      throw new Error("out of memory");
    };
    const thrown = await state.reload();
    expect(thrown).toMatchObject({ ok: false, problems: ["config reload failed: out of memory"] });
    expect(lines.some((l) => l.includes("config reload failed; keeping the previous config"))).toBe(true);
    expect(state.config).toBe(before);
    expect(await verdict(state, "old.example:443")).toBe("allow");
    expect(await verdict(state, "new.example:443")).toBe("block:not_allowed");
    // Still reloading after a throw: the chain of reloads is not broken.
    next = () => ({ ok: true, config: config(allowing("new.example")) });
    expect((await state.reload()).ok).toBe(true);
    expect(await verdict(state, "new.example:443")).toBe("allow");
  });

  test("two reloads apply in the order asked, even when the first takes longer", async () => {
    const first = Promise.withResolvers<LoadResult>();
    const results = [first.promise, Promise.resolve<LoadResult>({ ok: true, config: config(allowing("second.example")) })];
    let calls = 0;
    const { state } = stateWith(() => results[calls++]!);
    const order: string[] = [];
    const a = state.reload().then(() => order.push("first"));
    const b = state.reload().then(() => order.push("second"));
    await Promise.resolve();
    expect(calls).toBe(1); // the second load waits for the first
    first.resolve({ ok: true, config: config(allowing("first.example")) });
    await Promise.all([a, b]);
    expect(order).toEqual(["first", "second"]);
    expect(await verdict(state, "second.example:443")).toBe("allow");
    expect(await verdict(state, "first.example:443")).toBe("block:not_allowed");
  });
});

describe("a reload of a long list", () => {
  test("logs its new warnings (a hundred, then a count) and every change in order, before the swap, with the old config in force meanwhile", async () => {
    // 2,500 entries, a broad one every 5th (500 warnings), replacing a list of one (2,501 changes).
    const entries = (tld: string) => Array.from({ length: 2500 }, (_, i) => (i % 5 === 0 ? `h${i}.*` : i % 2 === 0 ? `a${i}.${tld}` : `b${i}.example.com`));
    const text = `[network_proxy.policy]\nallowed_domains = ${JSON.stringify(entries("example.net"))}\n`;
    const { state, lines } = stateWith(() => buildConfig(text, source));
    const before = state.config;
    let inForceAtFirstWarning: unknown = null;
    const push = lines.push.bind(lines);
    lines.push = (...l: string[]) => {
      if (inForceAtFirstWarning === null && l.some((x) => x.includes("h0.*"))) inForceAtFirstWarning = state.config;
      return push(...l);
    };
    const next = buildConfig(text, source);
    if (!next.ok) throw new Error(next.problems.join("\n"));
    const out = await state.reload();
    expect(out.ok).toBe(true);
    expect(inForceAtFirstWarning).toBe(before);
    expect(state.config).not.toBe(before);
    const msgs = lines.map((l) => l.replace(/^\S+ \S+ +/, "").trimEnd());
    const warnings = next.config.warnings;
    expect(warnings.length).toBe(500);
    const changes = diffConfig(before, next.config);
    expect(out.changes).toEqual(changes);
    expect(changes.length).toBe(2501);
    const want = [
      ...warnings.slice(0, 100),
      "400 more warnings not shown; `codex-network-proxy check` lists every one",
      ...changes.map((c) => `config change: ${c}`),
    ];
    expect(msgs.slice(0, want.length)).toEqual(want);
    expect(msgs[want.length]).toStartWith("reloaded config");
    // The same file again: its warnings were logged with the config in force, and nothing changed.
    lines.length = 0;
    const again = await state.reload();
    expect(again).toEqual({ ok: true, problems: [], changes: [] });
    expect(lines.map((l) => l.replace(/^\S+ \S+ +/, "").trimEnd())).toEqual([expect.stringMatching(/^reloaded config/)]);
  });
});

describe("steps", () => {
  test("run in slices, the steps give the event loop a turn between slices and return what a run at once returns", async () => {
    let turns = 0;
    const seen: number[] = [];
    function* counting(): Generator<void, string, void> {
      for (let i = 0; i < 3; i++) {
        seen.push(turns);
        yield;
      }
      return "done";
    }
    const tick = () => {
      turns++;
      if (turns < 10) setImmediate(tick);
    };
    setImmediate(tick);
    expect(await runStepsSliced(counting(), 0)).toBe("done");
    expect(seen[2]!).toBeGreaterThan(seen[0]!);
    expect(runSteps(counting())).toBe("done");
  });

  test("a long list compiled in slices judges every target as the list compiled at once", async () => {
    const shapes = [
      (i: number) => `api${i}.svc${i}.example.com`,
      (i: number) => `region*.glob${i}.example.io`,
      (i: number) => `*.zone${i}.example.net`,
      (i: number) => `**.apex${i}.example.org`,
      (i: number) => `h${i}.*`,
      (i: number) => `20.${(i >> 8) & 255}.${i & 255}.0/24`,
      (i: number) => `2a00:${i.toString(16)}::/32`,
    ];
    const allowed = Array.from({ length: 7000 }, (_, i) => shapes[i % shapes.length]!(i));
    allowed.push("bad/99", allowed[5]!);
    const lists = { allowed_domains: allowed, denied_domains: ["zone7.example.net"], allow_unix_sockets: [], allow_local_binding: false };
    const once = compilePolicy(lists);
    const sliced = await runStepsSliced(compilePolicySteps(lists), 0);
    expect(sliced.problems).toEqual(once.problems);
    expect(sliced.warnings).toEqual(once.warnings);
    const targets = allowed.slice(0, 300).flatMap((p, i) => [
      `${p
        .replace(/^\*\*\./, "")
        .replace(/^\*\./, "x.")
        .replace("*", "a")
        .replace(/\/\d+$/, "")}:443`,
      `nomatch${i}.example.com:443`,
    ]);
    for (const t of targets) {
      let target: ReturnType<typeof parseAuthority>;
      try {
        target = parseAuthority(t.startsWith("2a00") ? `[${t.slice(0, -4)}1]:443` : t, null);
      } catch {
        continue;
      }
      const ctx = { self: [] };
      const a = judgeTarget(once.policy, target, ctx);
      const b = judgeTarget(sliced.policy, target, ctx);
      expect(b.verdict).toBe(a.verdict);
      expect(b.rule?.raw).toBe(a.rule?.raw);
    }
  });
});
