/**
 * The benchmark report's judgement: the performance issue's targets (bench/targets.ts) and the
 * before/after table against the previous published report (bench/compare.ts), on rows made here.
 */
import { describe, expect, test } from "bun:test";
import { beforeAfter } from "../../bench/compare.ts";
import type { Cell, Row, RowKey } from "../../bench/report.ts";
import { judgeTargets } from "../../bench/targets.ts";

const v = (value: number, note?: string): Cell => ({ kind: "value", value, runs: [value], ...(note ? { note } : {}) });
const row = (key: RowKey, title: string, better: Row["better"], cells: Row["cells"]): Row => ({ key, title, unit: "x", better, cells });

describe("the performance issue's targets", () => {
  const rows = [
    row("forward_rps", "HTTP forwarding", "higher", { ours: v(30_000), squid: v(15_000), "bun-relay": v(50_000) }),
    row("connect_rate", "New CONNECT tunnels", "higher", { ours: v(6_000), tinyproxy: v(6_500), squid: v(5_000), "bun-relay": v(7_000) }),
    row("mitm_rps", "HTTPS via MITM", "higher", { ours: v(40_000), direct: v(70_000) }),
    row("startup", "Start-up", "lower", { ours: v(14.2) }),
    row("rss_idle", "RSS idle", "lower", { ours: v(45), "bun-relay": v(30) }),
    row("policy_10", "Policy 10", "higher", { ours: v(800_000) }),
    row("policy_100000", "Policy 100,000", "higher", {
      ours: v(640_000, "100,000 patterns: compiled in 288.4 ms (median of 3 fresh processes: 301.2, 288.4, 250.0); sample verdicts: ..."),
    }),
  ];
  const bars = new Map(judgeTargets(rows).map((b) => [b.text, b]));

  test("MITM: bun-relay's TLS-both-ways figure shows when no proxy on this runtime reaches half of direct", () => {
    const judge = (relay: number) =>
      judgeTargets([row("mitm_rps", "HTTPS via MITM", "higher", { ours: v(24_000), direct: v(61_000), "bun-relay": v(relay) })]).find(
        (b) => b.text === "HTTPS through MITM ≥ 0.5× direct HTTPS",
      )!;
    expect(judge(24_800).status).toBe("FAIL");
    expect(judge(24_800).detail).toContain("; bun-relay 24,800 req/s, itself short of the target: out of reach on this runtime here");
    expect(judge(40_000).detail).toContain("; bun-relay 40,000 req/s");
    expect(judge(40_000).detail).not.toContain("out of reach");
  });

  test("start-up and idle RSS: the compiled bare program says when the runtime alone is over the target (lower is better)", () => {
    const judge = (bare: number, rss: number) =>
      judgeTargets([
        row("startup", "Start-up", "lower", { ours: v(16.2), "bun-relay": v(bare) }),
        row("rss_idle", "RSS idle", "lower", { ours: v(44), "bun-relay": v(rss) }),
      ]);
    const [startup, idle] = ["Start-up, exec until every listener accepts ≤ 15 ms", "Idle RSS after start ≤ 35 MiB"].map(
      (t) => (bars: ReturnType<typeof judge>) => bars.find((b) => b.text === t)!,
    );
    expect(startup!(judge(15.9, 33))).toMatchObject({
      status: "FAIL",
      detail: "16.2 ms; bun-relay 15.9 ms, itself short of the target: out of reach on this runtime here",
    });
    expect(startup!(judge(12.0, 33)).detail).toBe("16.2 ms; bun-relay 12.0 ms");
    expect(idle!(judge(12.0, 36)).detail).toBe("44.0 MiB; bun-relay 36.0 MiB, itself short of the target: out of reach on this runtime here");
    expect(idle!(judge(12.0, 33)).detail).toBe("44.0 MiB; bun-relay 33.0 MiB");
  });

  test("idle RSS: the bare program with ours' runtime work is the floor, over the target or not", () => {
    const judge = (floor: number) =>
      judgeTargets([
        row("rss_idle", "RSS idle", "lower", { ours: v(40), "bun-relay": v(34) }),
        row("rss_idle_floor", "floor", "lower", { "bun-relay": v(floor) }),
      ]).find((b) => b.text === "Idle RSS after start ≤ 35 MiB")!;
    expect(judge(36.5)).toMatchObject({
      status: "FAIL",
      detail:
        "40.0 MiB; bun-relay 34.0 MiB; with the runtime work ours does before it is ready 36.5 MiB, itself over the target: out of reach on this runtime here, ours 3.50 MiB above that",
    });
    expect(judge(34.5).detail).toBe("40.0 MiB; bun-relay 34.0 MiB; with the runtime work ours does before it is ready 34.5 MiB, ours 5.50 MiB above that");
  });

  test("reload p99: the same loads in another process show what the shared cores alone cost", () => {
    const judge = (apart: number) =>
      judgeTargets([
        row("reload_p99_idle", "idle", "lower", { ours: v(3) }),
        row("reload_p99_busy", "busy", "lower", { ours: v(11) }),
        row("reload_p99_apart", "apart", "lower", { ours: v(apart) }),
      ]).find((b) => b.text.startsWith("Forwarding p99 during back-to-back reloads"))!;
    expect(judge(10)).toMatchObject({ status: "FAIL" });
    expect(judge(10).detail).toContain("with the same loads in another process instead 10.0 ms");
    expect(judge(10).detail).toContain("itself over the target");
    expect(judge(5).detail).toContain("with the same loads in another process instead 5.00 ms");
    expect(judge(5).detail).not.toContain("itself over the target");
  });

  test("each target is judged against the run's own peers, and bun-relay shows when the runtime itself falls short", () => {
    expect(bars.get("HTTP forwarding ≥ 2.5× squid's requests/s")).toMatchObject({ status: "FAIL" });
    expect(bars.get("HTTP forwarding ≥ 2.5× squid's requests/s")!.detail).toContain("bun-relay 50,000 req/s");
    expect(bars.get("HTTP forwarding ≥ 2.5× squid's requests/s")!.detail).not.toContain("out of reach");
    const tunnels = bars.get("New CONNECT tunnels ≥ 1.5× the best peer's per second")!;
    expect(tunnels.status).toBe("FAIL");
    expect(tunnels.detail).toContain("1.5 × tinyproxy 6,500 = 9,750/s");
    expect(tunnels.detail).toContain("; bun-relay 7,000/s, itself short of the target: out of reach on this runtime here");
    expect(bars.get("HTTPS through MITM ≥ 0.5× direct HTTPS")!.status).toBe("PASS");
    expect(bars.get("Start-up, exec until every listener accepts ≤ 15 ms")!.status).toBe("PASS");
    expect(bars.get("Idle RSS after start ≤ 35 MiB")).toMatchObject({ status: "FAIL", detail: "45.0 MiB; bun-relay 30.0 MiB" });
    expect(bars.get("Policy decision time, 100,000 patterns vs 10 ≤ 1.3×")).toMatchObject({ status: "PASS", detail: "1.25×: 800,000 → 640,000 decisions/s" });
    expect(bars.get("Compiling 100,000 patterns ≤ 200 ms (a cold compile in a fresh process; the median of the run's processes)")).toMatchObject({
      status: "FAIL",
      detail: "288.4 ms",
    });
    expect(bars.get("CONNECT bulk download ≥ 1.4× the best peer's")!.status).toBe("NO DATA");
  });
});

describe("before and after", () => {
  const previous = `# Benchmarks

Generated by \`bun run bench\` (bench/run.ts) on 2026-12-04T22:47:06Z. Do not edit by hand: re-run the script.

| codex-network-proxy | codex-network-proxy 0.1.0 (dist/codex-network-proxy; built 2026-12-04T22:25:43Z; tree at commit 4fddb96) |

## Results

| Figure | ours | direct | squid | ours/direct | ours/best peer |
| --- | --- | --- | --- | --- | --- |
| HTTP forwarding, 200 B (requests/s, higher is better) | 32,288 | 91,917 | 17,638 | 0.35× | 1.83× (squid) |
| Start-up: spawn until every listener accepts (ms, lower is better) | 23.6 [3] | — | 29.2 | — | 0.8× |
| Gone since (ms, lower is better) | — | — | 1 | — | — |
| same under run --isolate (MB/s, higher is better) | 1,543 | — | — | — | — |
| same under run --isolate (requests/s, higher is better) | 32,626 | — | — | — | — |
`;

  test("ours now against ours then, figure by figure, saying which way is better", () => {
    const rows = [
      { key: "forward_rps", title: "HTTP forwarding, 200 B", unit: "requests/s", better: "higher", cells: { ours: v(40_360) } },
      { key: "startup", title: "Start-up: spawn until every listener accepts", unit: "ms", better: "lower", cells: { ours: v(29.5) } },
      { key: "mitm_rps", title: "New row", unit: "requests/s", better: "higher", cells: { ours: v(1) } },
    ] as Row[];
    const out = beforeAfter(previous, rows)!;
    expect(out).toContain("previous published run (2026-12-04T22:47:06Z, commit 4fddb96)");
    expect(out).toContain("| HTTP forwarding, 200 B (requests/s) | 32,288 | 40,360 | 1.25× (better) |");
    expect(out).toContain("| Start-up: spawn until every listener accepts (ms) | 23.6 | 29.5 | 1.25× (worse) |");
    expect(out).not.toContain("New row");
    expect(beforeAfter(null, rows)).toBeNull();
  });

  test("two figures with one title are told apart by their unit", () => {
    const rows = [
      { key: "isolate_bulk_isolated", title: "  same under run --isolate", unit: "MB/s", better: "higher", cells: { ours: v(1_987) } },
      { key: "isolate_forward_isolated", title: "  same under run --isolate", unit: "requests/s", better: "higher", cells: { ours: v(47_864) } },
    ] as Row[];
    const out = beforeAfter(previous, rows)!;
    expect(out).toContain("| same under run --isolate (MB/s) | 1,543 | 1,987 | 1.29× (better) |");
    expect(out).toContain("| same under run --isolate (requests/s) | 32,626 | 47,864 | 1.47× (better) |");
  });
});
