/**
 * Preloaded by bunfig.toml. Every temporary directory of the run goes under one directory of
 * its own (TMPDIR, which os.tmpdir() reads at each call and the processes tests start inherit),
 * removed with what tests asked to remove at the end of the run (teardown.ts): a run leaves
 * nothing in the system's temporary directory, whatever its tests forget.
 */
import { afterAll } from "bun:test";
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { removeAll, removeAtEnd } from "./teardown.ts";

const root = mkdtempSync(join(tmpdir(), "cnp-run-"));
// The system directory's own mode: peers that drop to another user (squid runs as `proxy`) must
// reach the directories tests make for them inside.
chmodSync(root, 0o1777);
process.env["TMPDIR"] = root;
removeAtEnd(root);

afterAll(removeAll);
