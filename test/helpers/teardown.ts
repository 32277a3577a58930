/**
 * Paths to remove once the whole test run ends (not when one file ends: a release build is
 * shared by several files). Bun's test runner fires neither process "exit" nor "beforeExit", so
 * the removal is a global afterAll, registered by the preload in global-teardown.ts.
 */
import { rmSync } from "node:fs";

const paths: string[] = [];

export function removeAtEnd(path: string): void {
  paths.push(path);
}

export function removeAll(): void {
  for (const p of paths.splice(0)) rmSync(p, { recursive: true, force: true });
}
