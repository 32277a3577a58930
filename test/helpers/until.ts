/**
 * Wait for a condition that another party (the proxy, a subprocess) will make true, checking
 * after each turn of the event loop. Fails with `what` after `timeoutMs`.
 */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
