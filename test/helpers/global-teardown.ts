/** Preloaded by bunfig.toml: removes what tests asked to remove at the end of the run (teardown.ts). */
import { afterAll } from "bun:test";
import { removeAll } from "./teardown.ts";

afterAll(removeAll);
