/**
 * Half-close on both ends, with node:net (allowHalfOpen): an origin that answers only after the
 * client's FIN, and a client that sends, half-closes, and reads until the other side closes.
 * A tunnel that turned a FIN into a full close would lose the answer.
 */
import net from "node:net";

/** Reads everything a connection sends; after its FIN, answers `late:<what it got>` and closes. */
export function lateReplyOrigin(): { server: net.Server; port: Promise<number>; [Symbol.dispose](): void } {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let got = "";
    s.on("data", (d) => (got += d.toString()));
    s.on("end", () => s.end(`late:${got}`));
    s.on("error", () => {});
  });
  const port = new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
  return { server, port, [Symbol.dispose]: () => void server.close() };
}

/**
 * Connect to `port`, send `preamble`, wait for `ackBytes` bytes of answer (the proxy's success
 * reply), then send `payload`, half-close, and resolve with everything received after the ack.
 */
export function sendThenHalfClose(port: number, preamble: Uint8Array | string, ackBytes: number, payload: string): Promise<{ ack: Buffer; rest: string }> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true }, () => c.write(preamble));
    let buf = Buffer.alloc(0);
    let acked = false;
    c.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!acked && buf.length >= ackBytes) {
        acked = true;
        c.end(payload);
      }
    });
    c.on("end", () => {
      c.end();
      resolve({ ack: buf.subarray(0, ackBytes), rest: buf.subarray(ackBytes).toString() });
    });
    c.on("error", reject);
  });
}
