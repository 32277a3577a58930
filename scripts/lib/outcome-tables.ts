/**
 * The README's outcome tables, made from the one outcome table in src/outcomes.ts.
 * `bun scripts/readme-tables.ts` writes them into README.md; a unit test holds the two equal.
 */
import { OUTCOMES, type Outcome, type OutcomeCode } from "../../src/outcomes.ts";

const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;

function rows(kind: Outcome["kind"]): Array<[OutcomeCode, Outcome]> {
  return (Object.entries(OUTCOMES) as Array<[OutcomeCode, Outcome]>).filter(([, o]) => o.kind === kind);
}

/** Markdown for each table, keyed by the name of its README marker. */
export function outcomeTables(): Record<"blocks" | "errors" | "admin", string> {
  const blocks = ["| Reason | HTTP | `x-proxy-error` | SOCKS5 | When |", "| --- | --- | --- | --- | --- |"];
  for (const [code, o] of rows("block")) blocks.push(`| \`${code}\` | ${o.status} | \`${o.header}\` | ${hex(o.socks)} | ${o.when} |`);
  const errors = ["| Code | HTTP | `x-proxy-error` | SOCKS5 | When |", "| --- | --- | --- | --- | --- |"];
  for (const [code, o] of rows("error")) errors.push(`| \`${code}\` | ${o.status} | \`${o.header}\` | ${hex(o.socks)} | ${o.when} |`);
  const admin = ["| Code | HTTP | When |", "| --- | --- | --- |"];
  for (const [code, o] of rows("admin")) admin.push(`| \`${code}\` | ${o.status} | ${o.when} |`);
  return { blocks: blocks.join("\n"), errors: errors.join("\n"), admin: admin.join("\n") };
}

/** `readme` with every marked table replaced by its generated text. */
export function withOutcomeTables(readme: string): string {
  let out = readme;
  for (const [name, table] of Object.entries(outcomeTables())) {
    const re = new RegExp(`(<!-- outcomes:${name} -->\\n)[\\s\\S]*?(<!-- /outcomes:${name} -->)`);
    if (!re.test(out)) throw new Error(`README.md has no <!-- outcomes:${name} --> ... <!-- /outcomes:${name} --> section`);
    out = out.replace(re, (_m, open: string, close: string) => `${open}${table}\n${close}`);
  }
  return out;
}
