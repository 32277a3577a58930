/**
 * DNS under the test's control for a real proxy process, without touching the machine's own
 * configuration: a tiny authoritative DNS server on a random 127.53.x.y:53 that answers from a
 * table (answers may change from one query to the next, for rebinding) and logs every query,
 * and a wrapper that starts a command in a private mount namespace where /etc/hosts and
 * /etc/resolv.conf are bind-mounted from per-run files pointing at that server. The proxy then
 * resolves through its ordinary resolver (which reads both files), and no query leaves loopback.
 *
 * Needs root (port 53, mount namespaces) and util-linux `unshare`; `FakeDns.available()` says
 * whether this machine has them, and the tests that need them are skipped when it does not.
 */
import ipaddr from "ipaddr.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const QTYPE = { A: 1, AAAA: 28 } as const;

export interface DnsQuery {
  readonly name: string;
  readonly type: number;
}

/** Addresses for the nth query (0-based) of a name and type; an array for a fixed answer. */
export type Answer = readonly string[] | ((nth: number) => readonly string[]);

export interface DnsRecord {
  readonly a?: Answer;
  readonly aaaa?: Answer;
  /** Answer every query with this RCODE instead (2 = SERVFAIL). */
  readonly rcode?: number;
}

/**
 * The 16 bytes of an IPv6 address. The text goes through the WHATWG URL parser first:
 * ipaddr.js reads "::127.0.0.1" (IPv4-compatible) as the IPv4-mapped ::ffff:127.0.0.1.
 */
export function ipv6Bytes(s: string): number[] {
  return ipaddr.IPv6.parse(new URL(`http://[${s}]/`).hostname.slice(1, -1)).toByteArray();
}

function readName(b: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  for (;;) {
    const n = b[off]!;
    off++;
    if (n === 0) break;
    labels.push(b.subarray(off, off + n).toString("latin1"));
    off += n;
  }
  return [labels.join(".").toLowerCase(), off];
}

export class FakeDns {
  readonly queries: DnsQuery[] = [];
  readonly #records = new Map<string, DnsRecord>();
  readonly #seen = new Map<string, number>();
  /** Names under these suffixes are never answered (a black-holed authoritative server). */
  readonly #silent = new Set<string>();
  /** Per-run files for the namespace: a hosts file and a resolv.conf naming this server. */
  readonly hostsFile: string;
  readonly resolvFile: string;

  private constructor(
    readonly address: string,
    private readonly socket: { close(): void },
    hosts: string,
  ) {
    const dir = mkdtempSync(join(tmpdir(), "cnp-dns-"));
    this.hostsFile = join(dir, "hosts");
    this.resolvFile = join(dir, "resolv.conf");
    writeFileSync(this.hostsFile, hosts);
    writeFileSync(this.resolvFile, `nameserver ${address}\noptions timeout:2 attempts:1\n`);
  }

  /** Whether this machine can run it: Linux, root (port 53, mounts) and `unshare -m` that can bind-mount the two files. */
  static available(): boolean {
    if (process.platform !== "linux" || process.getuid?.() !== 0 || !Bun.which("unshare")) return false;
    const probe = Bun.spawnSync(
      ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount --bind /etc/hosts /etc/hosts && mount --bind /etc/resolv.conf /etc/resolv.conf"],
      {
        stdout: "ignore",
        stderr: "ignore",
      },
    );
    return probe.exitCode === 0;
  }

  /** Start the server (call `available()` first); throws when no loopback address:53 can be bound. */
  static async start(hosts = "127.0.0.1 localhost\n::1 localhost\n"): Promise<FakeDns> {
    let last: unknown;
    for (let attempt = 0; attempt < 8; attempt++) {
      const address = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
      let self: FakeDns | null = null;
      try {
        const sock = await Bun.udpSocket({
          hostname: address,
          port: 53,
          socket: {
            data: (s, buf, port, addr) => {
              const reply = self?.answer(Buffer.from(buf));
              if (reply) s.send(reply, port, addr);
            },
          },
        });
        self = new FakeDns(address, sock, hosts);
        return self;
      } catch (e) {
        last = e; // address in use: try another
      }
    }
    throw new Error(`cannot bind a loopback DNS server: ${String(last)}`);
  }

  /** Never answer any name under `suffix` (the query is still logged). */
  silence(suffix: string): void {
    this.#silent.add(suffix.toLowerCase());
  }

  set(name: string, r: DnsRecord): void {
    this.#records.set(name.toLowerCase(), r);
  }

  /** Queries seen for a name (any type, or one type). */
  count(name: string, type?: number): number {
    const n = name.toLowerCase();
    return this.queries.filter((q) => q.name === n && (type === undefined || q.type === type)).length;
  }

  answer(q: Buffer): Buffer | null {
    if (q.length < 17) return null;
    const [name, end] = readName(q, 12);
    const type = q.readUInt16BE(end);
    this.queries.push({ name, type });
    for (const s of this.#silent) if (name.endsWith(`.${s}`)) return null;
    const question = q.subarray(12, end + 4);
    const rec = this.#records.get(name);
    const key = `${name}/${type}`;
    const nth = this.#seen.get(key) ?? 0;
    this.#seen.set(key, nth + 1);
    let rcode = rec ? (rec.rcode ?? 0) : 3; // NXDOMAIN for names not in the table
    const answers: Buffer[] = [];
    if (rec && rcode === 0) {
      const src = type === QTYPE.A ? rec.a : type === QTYPE.AAAA ? rec.aaaa : undefined;
      const list = typeof src === "function" ? src(nth) : (src ?? []);
      for (const ip of list) {
        const data = type === QTYPE.A ? ip.split(".").map(Number) : ipv6Bytes(ip);
        // name (pointer to the question), type, class IN, TTL 0, rdata
        answers.push(Buffer.from([0xc0, 12, type >> 8, type & 255, 0, 1, 0, 0, 0, 0, 0, data.length, ...data]));
      }
    }
    if (rcode > 15) rcode = 2;
    const h = Buffer.alloc(12);
    q.copy(h, 0, 0, 2);
    h.writeUInt16BE(0x8180 | rcode, 2);
    h.writeUInt16BE(1, 4);
    h.writeUInt16BE(answers.length, 6);
    return Buffer.concat([h, question, ...answers]);
  }

  /** `argv` run in a private mount namespace that sees this server's hosts and resolv.conf. */
  wrap(argv: readonly string[]): string[] {
    const script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"';
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", this.hostsFile, this.resolvFile, ...argv];
  }

  close(): void {
    this.socket.close();
  }
}
