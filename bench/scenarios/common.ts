/**
 * What every scenario shares: the run's parameters, starting and stopping systems, running
 * client processes, and the interleaved measurement loop.
 *
 * Each scenario starts every system that can do it fresh (so one scenario's state, such as
 * TIME_WAIT sockets, grown heaps or JIT warmth, never carries into another), warms it up, and
 * keeps the median of its runs. A system that fails becomes a "failed" cell with the reason;
 * the run goes on.
 */
import { join } from "node:path";
import type { ClientName, clients } from "../client.ts";
import { Proc } from "../lib/procs.ts";
import { median } from "../lib/stats.ts";
import type { Via } from "../lib/wire.ts";
import type { Cell, Row, RowKey } from "../report.ts";
import { PEERS, startOurs, type OursInfo, type Peer, type Profile, type Running, type StartContext, type SystemId } from "../systems.ts";

export interface Params {
  /** Runs per figure; bulk downloads have their own count, being the noisiest figure here. */
  runs: number;
  bulkRuns: number;
  wrkSeconds: number;
  wrkConnections: number;
  bulkBytes: number;
  warmBulkBytes: number;
  tunnelSeconds: number;
  tunnelConcurrency: number;
  httpsSeconds: number;
  httpsConcurrency: number;
  idleTunnels: number;
  memoryRuns: number;
  policySizes: number[];
  policyRounds: number;
  policyRoundMs: number;
  startupRuns: number;
}

export interface Bench {
  params: Params;
  ours: OursInfo;
  ctx: StartContext;
  /** Missing programs (by binary name) and why. */
  missing: ReadonlyMap<string, string>;
  /** Scratch dir for wrk scripts. */
  tmp: string;
}

export const CLIENT = join(import.meta.dir, "../client.ts");

export function log(msg: string): void {
  console.error(msg);
}

/** Run a client process and return its JSON result. */
export async function client<K extends ClientName>(
  name: K,
  args: Parameters<(typeof clients)[K]>[0],
  timeoutMs: number,
  /** A command that runs the client (e.g. chrt with a scheduling policy). */
  prefix: readonly string[] = [],
): Promise<Awaited<ReturnType<(typeof clients)[K]>>> {
  const p = new Proc(`client ${name}`, [...prefix, process.execPath, CLIENT, name, JSON.stringify(args)]);
  p.sub.stdin.end();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void p.stop();
  }, timeoutMs);
  const code = await p.sub.exited;
  clearTimeout(timer);
  await p.drained;
  if (timedOut) throw new Error(`client ${name} took more than ${timeoutMs} ms: ${p.tail(6)}`);
  if (code !== 0) throw new Error(`client ${name} failed (exit ${code}): ${p.tail(6)}`);
  return JSON.parse(p.stdout.trim().split("\n").pop()!);
}

export function firstLine(e: unknown): string {
  return ((e as Error).message ?? String(e)).split("\n")[0]!.trim();
}

export function fromRuns(runs: number[], note?: string): Cell {
  return { kind: "value", value: median(runs), runs, ...(note ? { note } : {}) };
}

export type Target = SystemId | Peer;

export function idOf(t: Target): SystemId {
  return typeof t === "string" ? t : t.id;
}

export const peer = (id: SystemId): Peer => PEERS.find((p) => p.id === id)!;

/** A cell for each of `keys`. */
function every(keys: readonly RowKey[], c: Cell): Partial<Record<RowKey, Cell>> {
  return Object.fromEntries(keys.map((k) => [k, c]));
}

export function logCells(id: SystemId, cells: Partial<Record<RowKey, Cell>>): void {
  for (const [k, c] of Object.entries(cells)) {
    if (c)
      log(
        `  ${k.padEnd(20)} ${id.padEnd(11)} ${c.kind === "value" ? `${c.value.toFixed(2)}  (runs: ${c.runs.map((x) => x.toFixed(1)).join(", ")})` : `${c.kind}: ${c.why}`}`,
      );
  }
}

async function start(b: Bench, target: Target, profile: Profile): Promise<Running | null> {
  if (target === "direct") return null;
  if (target === "ours") return startOurs(b.ours, profile, b.ctx);
  if (typeof target === "string") throw new Error(`no such system ${target}`);
  return target.start(profile, b.ctx);
}

/**
 * Start `target` for `profile`, hand it to `body`, always stop it. `body` gets null for
 * direct. A missing peer or a failure becomes a cell for every row key in `keys`.
 */
export async function withSystem(
  b: Bench,
  target: Target,
  profile: Profile,
  keys: readonly RowKey[],
  body: (r: Running | null) => Promise<Partial<Record<RowKey, Cell>>>,
): Promise<Partial<Record<RowKey, Cell>>> {
  const id = idOf(target);
  if (typeof target !== "string" && b.missing.has(target.bin)) return every(keys, { kind: "skipped", why: `${target.bin}: ${b.missing.get(target.bin)}` });
  let running: Running | null = null;
  try {
    running = await start(b, target, profile);
    return await body(running);
  } catch (e) {
    log(`  ${id}: FAILED: ${(e as Error).message}`);
    return every(keys, { kind: "failed", why: `${id}: ${firstLine(e)}` });
  } finally {
    await running?.stop();
  }
}

/** One measurement of one system: a figure per row key, and errors worth a footnote. */
interface Sample {
  values: Partial<Record<RowKey, number>>;
  errors?: number;
  firstError?: string | null;
}

interface Contender {
  target: Target;
  profile: Profile;
  id: SystemId;
  running: Running | null;
  samples: Sample[];
  /** Set once the contender is out of the race (not yet implemented, failed). */
  cell: Cell | null;
}

/**
 * Start every target, warm each up, then run `runs` rounds that measure every target once,
 * in an order rotated each round. Interleaving spreads slow drifts of this shared 2-core
 * machine (other tenants, kernel state such as TIME_WAIT sockets piling up) over all columns
 * instead of charging them to whichever system happened to run last. `warm` may return a
 * cell to take a target out of the race (a feature ours does not have yet).
 */
export async function interleaved(
  b: Bench,
  what: string,
  targets: ReadonlyArray<[Target, Profile]>,
  keys: readonly RowKey[],
  runs: number,
  warm: (r: Running | null, id: SystemId) => Promise<Cell | null>,
  one: (r: Running | null, id: SystemId) => Promise<Sample>,
): Promise<Map<SystemId, Partial<Record<RowKey, Cell>>>> {
  log(what);
  const racers: Contender[] = [];
  const out = new Map<SystemId, Partial<Record<RowKey, Cell>>>();
  try {
    for (const [target, profile] of targets) {
      const c: Contender = { target, profile, id: idOf(target), running: null, samples: [], cell: null };
      racers.push(c);
      if (typeof target !== "string" && b.missing.has(target.bin)) {
        c.cell = { kind: "skipped", why: `${target.bin}: ${b.missing.get(target.bin)}` };
        continue;
      }
      try {
        c.running = await start(b, target, profile);
        c.cell = await warm(c.running, c.id);
      } catch (e) {
        log(`  ${c.id}: FAILED: ${(e as Error).message}`);
        c.cell = { kind: "failed", why: `${c.id}: ${firstLine(e)}` };
      }
    }
    for (let round = 0; round < runs; round++) {
      const order = racers.slice(round % racers.length).concat(racers.slice(0, round % racers.length));
      for (const c of order) {
        if (c.cell) continue;
        try {
          c.samples.push(await one(c.running, c.id));
        } catch (e) {
          log(`  ${c.id}: FAILED: ${(e as Error).message}`);
          c.cell = { kind: "failed", why: `${c.id}: ${firstLine(e)}` };
        }
      }
    }
  } finally {
    for (const c of racers) await c.running?.stop();
  }
  for (const c of racers) {
    let cells: Partial<Record<RowKey, Cell>>;
    if (c.cell) cells = every(keys, c.cell);
    else {
      const errors = c.samples.reduce((s, x) => s + (x.errors ?? 0), 0);
      const first = c.samples.find((x) => x.firstError)?.firstError;
      const note = errors > 0 ? `${c.id}: ${errors} errors over ${c.samples.length} runs${first ? ` (${first})` : ""}` : undefined;
      // The footnote goes on the row's headline figure (the first key) only.
      cells = Object.fromEntries(
        keys.map((k, i) => [
          k,
          fromRuns(
            c.samples.map((x) => x.values[k]!),
            i === 0 ? note : undefined,
          ),
        ]),
      );
    }
    logCells(c.id, cells);
    out.set(c.id, cells);
  }
  return out;
}

export function row(key: RowKey, title: string, unit: string, better: Row["better"]): Row {
  return { key, title, unit, better, cells: {} };
}

export function fill(rows: Row[], results: Map<SystemId, Partial<Record<RowKey, Cell>>>): void {
  for (const [id, cells] of results) {
    for (const r of rows) {
      const c = cells[r.key];
      if (c) r.cells[id] = c;
    }
  }
}

export function viaFor(r: Running | null, kind: "http" | "socks5"): Via {
  if (!r) return { kind: "direct" };
  const port = kind === "http" ? r.http : r.socks;
  if (port === undefined) throw new Error(`no ${kind} port`);
  return kind === "http" && r.host ? { kind, port, host: r.host } : { kind, port };
}

export const NOT_YET_SOCKS =
  "our SOCKS5 listener is not implemented yet (the binary logs no `SOCKS5 proxy listening`); this cell fills in by itself once it does";

/** The SOCKS5 contenders: ours only once the binary has the listener. */
export function socksTargets(b: Bench, rows: Row[], peers: Target[]): Target[] {
  if (b.ours.listeners.has("SOCKS5 proxy")) return ["ours", ...peers];
  for (const r of rows) r.cells.ours = { kind: "notyet", why: NOT_YET_SOCKS };
  return peers;
}
