/**
 * The inside of `run --isolate`, started by unshare(1) or bubblewrap in fresh user and network
 * namespaces, where the only interface is loopback: bring loopback up, listen on the proxy's
 * ports on 127.0.0.1 and carry each connection to the proxy outside through its Unix socket in
 * the private bridge directory, then run the command and leave with its exit status. Nothing
 * else in here leads out: no route, no resolver.
 *
 *   codex-network-proxy __isolated DIR PORT:SOCKET... -- CMD [ARGS...]
 */
import type { SocketHandler } from "bun";
import { constants } from "node:os";
import { join } from "node:path";
import { Conn, connHandlers } from "../proxy/conn.ts";
import { Relay, type RelayOwner } from "../proxy/relay.ts";
import { loopbackUp } from "./loopback.ts";

const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
const done: RelayOwner = { relayDone() {} };

function bridge(port: number, socketPath: string): void {
  const handlers: SocketHandler<Conn> = {
    ...connHandlers,
    open(s) {
      const inside = new Conn("bridge");
      s.data = inside;
      inside.sock = s;
      s.setNoDelay(true);
      const outside = new Conn("bridge");
      Bun.connect<Conn>({ unix: socketPath, data: outside, allowHalfOpen: true, socket: connHandlers }).then(
        (sock) => {
          outside.sock = sock;
          new Relay(inside, outside, done).start();
        },
        () => inside.destroy(true),
      );
    },
  };
  Bun.listen<Conn>({ hostname: "127.0.0.1", port, allowHalfOpen: true, socket: handlers, data: undefined as unknown as Conn });
}

export async function isolatedMain(argv: readonly string[]): Promise<number> {
  const sep = argv.indexOf("--");
  const [dir, ...pairs] = sep < 0 ? [] : argv.slice(0, sep);
  const cmd = sep < 0 ? [] : argv.slice(sep + 1);
  if (!dir || cmd.length === 0) {
    process.stderr.write("codex-network-proxy __isolated: internal use only (run --isolate starts it)\n");
    return 2;
  }
  try {
    loopbackUp();
    for (const p of pairs) {
      const [port, name] = p.split(":");
      bridge(Number(port), join(dir, name!));
    }
  } catch (e) {
    process.stderr.write(`codex-network-proxy run --isolate: cannot set up the namespace: ${(e as Error).message}\n`);
    return 126;
  }
  const early: NodeJS.Signals[] = [];
  let child: Bun.Subprocess<"inherit", "inherit", "inherit"> | null = null;
  const forward = (sig: NodeJS.Signals) => (child ? child.kill(sig) : early.push(sig));
  for (const s of FORWARDED) process.on(s, forward);
  try {
    child = Bun.spawn(cmd, { env: process.env, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  } catch (e) {
    process.stderr.write(`codex-network-proxy run: cannot run ${JSON.stringify(cmd[0])}: ${(e as Error).message}\n`);
    return 127;
  }
  for (const sig of early) child.kill(sig);
  const status = await child.exited;
  if (child.signalCode) return 128 + (constants.signals[child.signalCode as keyof typeof constants.signals] ?? 0);
  return status;
}

/**
 * `__probe HOST PORT` (for doctor, inside the namespaces): exit 0 when a direct TCP connection
 * gets through, 1 when it fails, as it must in there.
 */
export async function directProbeMain(argv: readonly string[]): Promise<number> {
  try {
    loopbackUp();
  } catch {
    // Without loopback the probe fails all the more.
  }
  try {
    const s = await Promise.race([
      Bun.connect({ hostname: argv[0]!, port: Number(argv[1]), socket: { data() {} } }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timed out")), 3000)),
    ]);
    s.end();
    return 0;
  } catch {
    return 1;
  }
}
