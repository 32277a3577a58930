/**
 * Listening sockets whose accept queues are full (python never calls accept), so a new connection
 * attempt to them hangs: the only way to see a connect time-out on loopback. `blackholePort`
 * holds one address; `blackholeAddresses(n)` holds 127.0.0.1 .. 127.0.0.n on one port.
 */
const SCRIPT = `
import socket, sys
n = int(sys.argv[1])
for attempt in range(50):
    first = socket.socket(); first.bind(("127.0.0.1", 0)); port = first.getsockname()[1]
    socks = [first]
    try:
        for i in range(2, n + 1):
            s = socket.socket(); s.bind((f"127.0.0.{i}", port)); socks.append(s)
        break
    except OSError:
        for s in socks: s.close()
fill = []
for i, s in enumerate(socks):
    s.listen(0)
    for _ in range(8):
        c = socket.socket(); c.setblocking(False)
        try: c.connect((f"127.0.0.{i + 1}", port))
        except BlockingIOError: pass
        fill.append(c)
print(port, flush=True)
sys.stdin.read()
`;

export async function blackholeAddresses(n: number): Promise<{ port: number; addresses: string[]; stop: () => void }> {
  const p = Bun.spawn(["python3", "-c", SCRIPT, String(n)], { stdin: "pipe", stdout: "pipe" });
  const { value } = await p.stdout.getReader().read();
  const port = Number(new TextDecoder().decode(value).trim());
  return { port, addresses: Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`), stop: () => p.kill() };
}

export async function blackholePort(): Promise<{ port: number; stop: () => void }> {
  const h = await blackholeAddresses(1);
  return { port: h.port, stop: h.stop };
}
