/**
 * Entry point of a client process: `bun bench/client.ts NAME JSON-ARGS` prints one JSON result
 * line. Clients run in their own process so that load generation never shares an event loop
 * (or a GC) with the orchestrator reading the peers' output.
 */
import { bulk } from "./clients/bulk.ts";
import { https } from "./clients/https.ts";
import { idle } from "./clients/idle.ts";
import { policy } from "./clients/policy.ts";
import { reloadWork } from "./clients/reload-work.ts";
import { spin } from "./clients/spin.ts";
import { tunnels } from "./clients/tunnels.ts";

export const clients = { bulk, https, idle, policy, reloadWork, spin, tunnels };
export type ClientName = keyof typeof clients;

if (import.meta.main) {
  const [name, raw] = process.argv.slice(2);
  if (!name || !(name in clients) || !raw) {
    console.error(`usage: bun bench/client.ts ${Object.keys(clients).join("|")} JSON-ARGS`);
    process.exit(2);
  }
  const fn = clients[name as ClientName] as (a: unknown) => unknown;
  console.log(JSON.stringify(await fn(JSON.parse(raw))));
  process.exit(0);
}
