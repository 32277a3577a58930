/** A healthy client that must keep being served while a test breaks something else. */
import { expect } from "bun:test";
import type { HttpOrigin } from "./origin.ts";
import type { TestProxy } from "./proxy.ts";
import { RawClient } from "./raw.ts";

/** A client on its own kept-alive connection; `check()` must keep answering 200. */
export async function bystander(proxy: TestProxy, origin: HttpOrigin): Promise<{ check: () => Promise<void> } & Disposable> {
  const c = await RawClient.connect(proxy.port);
  const check = async () => {
    c.send(`GET ${origin.url("/echo?bystander")} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await c.response()).status).toBe(200);
  };
  await check();
  return { check, [Symbol.dispose]: () => c[Symbol.dispose]() };
}
