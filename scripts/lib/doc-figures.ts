/**
 * The figures README quotes, made from the generated documents instead of typed by hand: the
 * performance summary from docs/benchmarks.md (its Results table) and the test-suite times from
 * docs/reliability.md. `bun scripts/readme-tables.ts` writes them into README.md between
 * `<!-- docs:NAME -->` markers; a unit test holds README equal to what these functions make.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

interface Row {
  readonly cells: Readonly<Record<string, string>>;
}

/** The Results table of docs/benchmarks.md, by the start of each row's figure name. */
function results(md: string): (start: string) => Row {
  const section = md.slice(md.indexOf("## Results"));
  const lines = section.split("\n").filter((l) => l.startsWith("| "));
  const header = lines[0]!.split("|").map((c) => c.trim());
  const rows = lines.slice(2).map((l) => {
    const cells = l.split("|").map((c) => c.trim());
    return { cells: Object.fromEntries(header.map((h, i) => [h, (cells[i] ?? "").replace(/ \[\d+\]$/, "")])) };
  });
  return (start) => {
    const row = rows.find((r) => r.cells["Figure"]!.startsWith(start));
    if (!row) throw new Error(`docs/benchmarks.md has no Results row starting with ${JSON.stringify(start)}`);
    return row;
  };
}

/** The performance summary, one bullet per figure, with the run it came from. */
export function performanceSummary(md: string): string {
  const row = results(md);
  const when = /on (\d{4}-\d{2}-\d{2})T/.exec(md)?.[1] ?? "an unknown date";
  const commit = /tree at commit ([0-9a-f]+)/.exec(md)?.[1];
  // "1.87× (squid)" reads as "1.87× squid".
  const c = (start: string, col: string) => row(start).cells[col]!.replace(/× \((.+)\)$/, "× $1");
  const fwd = "HTTP forwarding";
  const lines = [
    `From the run of ${when}${commit ? ` (commit ${commit})` : ""}; ratios are ours against the peer named:`,
    "",
    `- plain HTTP forwarding: ${c(fwd, "ours")} requests/s, ${c(fwd, "ours/best peer")}; p50 ${c("same, p50", "ours")} ms, p99 ${c("same, p99", "ours")} ms (squid ${c("same, p50", "squid")} and ${c("same, p99", "squid")} ms);`,
    `- one 1 GiB download through a CONNECT tunnel: ${c("CONNECT tunnel", "ours")} MB/s, ${c("CONNECT tunnel", "ours/best peer")}, ${c("CONNECT tunnel", "ours/direct")} of a direct connection; through SOCKS5: ${c("SOCKS5 tunnel", "ours")} MB/s, ${c("SOCKS5 tunnel", "ours/best peer")}, ${c("SOCKS5 tunnel", "ours/direct")} of direct;`,
    `- new tunnels per second: CONNECT ${c("New CONNECT", "ours")}, ${c("New CONNECT", "ours/best peer")}; SOCKS5 ${c("New SOCKS5", "ours")}, ${c("New SOCKS5", "ours/best peer")};`,
    `- HTTPS through MITM in limited mode: ${c("HTTPS via MITM", "ours")} requests/s, ${c("HTTPS via MITM", "ours/best peer")};`,
    `- memory: ${c("RSS of the proxy", "ours")} MiB idle (the Bun runtime), ${c("RSS per idle CONNECT", "ours")} KiB per idle CONNECT tunnel (squid ${c("RSS per idle CONNECT", "squid")}), ${c("RSS per idle SOCKS5", "ours")} KiB per idle SOCKS5 tunnel (microsocks ${c("RSS per idle SOCKS5", "microsocks")});`,
    `- policy decisions per second with 10, 1,000 and 100,000 patterns: ${c("Policy decisions (parse + judge), 10 ", "ours")}, ${c("Policy decisions (parse + judge), 1,000 ", "ours")}, ${c("Policy decisions (parse + judge), 100,000 ", "ours")};`,
    `- start-up until every listener accepts: ${c("Start-up", "ours")} ms (squid ${c("Start-up", "squid")} ms).`,
  ];
  // Runs with the bare Bun relay as a reference column (bench/relay.ts): what Bun itself reaches.
  if (/\| bun-relay \|/.test(md)) {
    lines[lines.length - 1] = lines.at(-1)!.replace(/\.$/, ";");
    lines.push(
      `- a bare relay on the same Bun, no parsing or policy (the bun-relay column): forwarding ${c(fwd, "bun-relay")} requests/s (ours ${c(fwd, "ours/bun-relay")} of it), new CONNECT tunnels ${c("New CONNECT", "bun-relay")}/s, new SOCKS5 tunnels ${c("New SOCKS5", "bun-relay")}/s, ${c("RSS of the proxy", "bun-relay")} MiB idle.`,
    );
    // Runs since the start-up and idle rows take their reference from the compiled bare program.
    const bareStart = c("Start-up", "bun-relay");
    if (bareStart !== "—")
      lines[lines.length - 1] = lines
        .at(-1)!
        .replace(
          /, (\S+) MiB idle\.$/,
          `; a program compiled like ours that only reads its config file and opens the same listeners (bench/bare.ts) starts in ${bareStart} ms (ours ${c("Start-up", "ours")}) and holds $1 MiB idle.`,
        );
    // Runs since the memory rows have the floor: the bare program with ours' runtime work.
    if (md.includes("the least on this Bun with the runtime work"))
      lines[lines.length - 1] = lines
        .at(-1)!
        .replace(
          /(and holds \S+ MiB idle)/,
          `$1 (${c("the least on this Bun with the runtime work", "bun-relay")} MiB once it also makes the runtime calls ours makes before it is ready: TOML, bun:ffi, the token file, the config watch)`,
        );
    // Runs since the relay has a MITM mode (TLS both ways, the plaintext piped) fill that cell.
    const mitmRelay = c("HTTPS via MITM", "bun-relay");
    if (mitmRelay !== "—")
      lines[lines.length - 1] = lines
        .at(-1)!
        .replace(
          / MiB idle\.$/,
          ` MiB idle; the relay as an intercepting proxy (TLS both ways, nothing parsed) ${mitmRelay} requests/s (ours ${c("HTTPS via MITM", "ours/bun-relay")} of it, and ${c("HTTPS via MITM", "ours/direct")} of direct HTTPS).`,
        );
  }
  // Runs before the reload rows existed have no such line.
  if (md.includes("reloaded back to back")) {
    lines[lines.length - 1] = lines.at(-1)!.replace(/\.$/, ";");
    lines.push(
      `- a reload of a config with 100,000 patterns: answered in ${c("one reload of the", "ours")} ms, the old policy in force meanwhile; forwarding p99 while such reloads run back to back ${c("same while that config is reloaded", "ours")} ms (${c("wrk forwarding p99, 50 connections, config of", "ours")} ms without).`,
    );
    // Runs since the reload row has its reference: the same loads done by another process.
    if (md.includes("same while another process loads"))
      lines[lines.length - 1] = lines
        .at(-1)!
        .replace(
          / ms without\)\.$/,
          ` ms without; ${c("same while another process loads", "ours")} ms while another process does the same loads instead, the proxy untouched).`,
        );
    // Runs since the reload row has its floor: a process that only spins at SCHED_IDLE.
    if (md.includes("only spins at the lowest CPU priority") && /^[\d.,]+$/.test(c("same while another process only spins", "ours")))
      lines[lines.length - 1] = lines
        .at(-1)!
        .replace(
          /, the proxy untouched\)\.$/,
          `, the proxy untouched; ${c("same while another process only spins", "ours")} ms beside a process that only spins at the lowest CPU priority).`,
        );
  }
  // Runs before the chained rows existed have no such line.
  if (md.includes("through squid as our upstream")) {
    lines[lines.length - 1] = lines.at(-1)!.replace(/\.$/, ";");
    lines.push(
      `- with squid as our upstream (ours → squid against squid alone): forwarding ${c("HTTP forwarding through squid", "ours")} requests/s, ${c("HTTP forwarding through squid", "ours/best peer")}; CONNECT ${c("CONNECT tunnel through squid", "ours")} MB/s, ${c("CONNECT tunnel through squid", "ours/best peer")}.`,
    );
  }
  return lines.join("\n");
}

/** "the whole suite in 55 s, the unit tests alone in 4.8 s", from docs/reliability.md. */
export function testTimes(md: string): string {
  const time = (title: string) => {
    const at = md.indexOf(`## ${title}`);
    const m = at < 0 ? null : /\| run time \| ([\d.]+ s) \|/.exec(md.slice(at));
    if (!m) throw new Error(`docs/reliability.md has no run time under "## ${title}"`);
    return m[1]!;
  };
  return `${time("The whole test suite")} for everything, ${time("The unit tests")} for the unit tests alone`;
}

export function docFigures(): Record<"performance" | "test-times", string> {
  return {
    performance: performanceSummary(readFileSync(join(ROOT, "docs/benchmarks.md"), "utf8")),
    "test-times": testTimes(readFileSync(join(ROOT, "docs/reliability.md"), "utf8")),
  };
}

/** `readme` with each `<!-- docs:NAME -->...<!-- /docs:NAME -->` filled from the documents. */
export function withDocFigures(readme: string, figures = docFigures()): string {
  let out = readme;
  for (const [name, text] of Object.entries(figures)) {
    const re = new RegExp(`(<!-- docs:${name} -->)[\\s\\S]*?(<!-- /docs:${name} -->)`);
    if (!re.test(out)) throw new Error(`README.md has no <!-- docs:${name} --> ... <!-- /docs:${name} --> section`);
    const block = text.includes("\n");
    out = out.replace(re, (_m, open: string, close: string) => (block ? `${open}\n${text}\n${close}` : `${open}${text}${close}`));
  }
  return out;
}
