/**
 * A listening socket whose accept queue is full (python never calls accept), so a new
 * connection attempt to it hangs: the only way to see a connect time-out on loopback.
 */
export async function blackholePort(): Promise<{ port: number; stop: () => void }> {
  const script = `
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(8):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    fill.append(c)
print(port, flush=True)
sys.stdin.read()
`;
  const p = Bun.spawn(["python3", "-c", script], { stdin: "pipe", stdout: "pipe" });
  const { value } = await p.stdout.getReader().read();
  return { port: Number(new TextDecoder().decode(value).trim()), stop: () => p.kill() };
}
