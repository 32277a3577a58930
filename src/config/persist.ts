/**
 * Add one entry to `allowed_domains` or `denied_domains` in the config file's text, touching
 * nothing else: every comment, blank line and other key stays byte for byte. The edit is checked
 * by parsing both texts: the only difference must be the one new entry, or nothing is written.
 * Handles the list written in `[network_proxy.policy]` or as `policy.<list>` under
 * `[network_proxy]`, on one line or several; other layouts are refused with a message.
 */
import { parse } from "smol-toml";
import { lineEndingOf } from "../platform.ts";

export type ListName = "allowed_domains" | "denied_domains";

/**
 * Scan a TOML array that starts at `text[i]`: where it ends (the index after its closing bracket)
 * and where its last element ends (the index after the last character that is not space, a
 * comment or the bracket itself). -1 when the array does not end.
 */
function scanArray(text: string, i: number): { end: number; lastValue: number } {
  let depth = 0;
  let quote: string | null = null;
  let lastValue = i + 1;
  for (let j = i; j < text.length; j++) {
    const c = text[j]!;
    if (quote) {
      if (c === "\\" && quote === '"') j++;
      else if (c === quote) quote = null;
      lastValue = j + 1;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === "#") {
      const nl = text.indexOf("\n", j);
      j = nl < 0 ? text.length : nl - 1;
      continue;
    } else if (c === "[") depth++;
    else if (c === "]" && --depth === 0) return { end: j + 1, lastValue };
    if (j > i && !/\s/.test(c)) lastValue = j + 1;
  }
  return { end: -1, lastValue };
}

type Doc = { network_proxy?: { policy?: Record<string, unknown> } };

function listOf(doc: Doc, list: ListName): string[] | undefined {
  return doc.network_proxy?.policy?.[list] as string[] | undefined;
}

/** The new text with `entry` added to `list`. Throws with the reason when it cannot do so safely. */
export function addToList(text: string, list: ListName, entry: string): string {
  const parsed = parse(text) as Doc;
  const before = listOf(parsed, list) ?? [];
  if (before.includes(entry)) return text;
  const quoted = JSON.stringify(entry);
  const lines = text.split("\n");
  let table = "";
  let offset = 0;
  let out: string | null = null;
  for (const line of lines) {
    const header = /^\s*\[([^\]]+)\]\s*(#.*)?$/.exec(line);
    if (header) table = header[1]!.replace(/\s+/g, "");
    const key = /^(\s*)([A-Za-z0-9_."-]+)\s*=\s*/.exec(line);
    const full = key ? [table, key[2]!.replace(/"/g, "")].filter(Boolean).join(".") : "";
    if (key && full === `network_proxy.policy.${list}`) {
      const start = offset + key[0].length;
      if (text[start] !== "[") throw new Error(`${list} is not written as an array; add ${quoted} to it yourself`);
      const { end, lastValue: at } = scanArray(text, start);
      if (end < 0) throw new Error(`cannot find the end of ${list}`);
      // After the last element (or into the empty array), keeping any trailing comma, space and comments.
      const last = text[at - 1];
      const insert = at === start + 1 ? quoted : last === "," ? ` ${quoted}` : `, ${quoted}`;
      out = text.slice(0, at) + insert + text.slice(at);
      break;
    }
    offset += line.length + 1;
  }
  if (out === null) {
    // No such list yet: add it to the table, or the table to the end of the file.
    // New lines end the way the file's lines do (a CRLF file from a Windows editor stays CRLF).
    const eol = lineEndingOf(text);
    const m = /^[^\S\r\n]*\[network_proxy\.policy\][^\S\r\n]*(#[^\r\n]*)?(?=\r?$)/m.exec(text);
    if (m) {
      const at = m.index + m[0].length;
      out = `${text.slice(0, at)}${eol}${list} = [${quoted}]${text.slice(at)}`;
    } else out = `${text}${text.endsWith("\n") || text === "" ? "" : eol}${eol}[network_proxy.policy]${eol}${list} = [${quoted}]${eol}`;
  }
  let after: Doc;
  try {
    after = parse(out) as Doc;
  } catch (e) {
    throw new Error(`the edited file would not parse (${(e as Error).message.split("\n")[0]}); add ${quoted} to ${list} yourself`);
  }
  // The whole document must come out the same but for the one entry.
  const expected = structuredClone(parsed);
  expected.network_proxy ??= {};
  expected.network_proxy.policy ??= {};
  expected.network_proxy.policy[list] = [...before, entry];
  if (!Bun.deepEquals(after, expected)) throw new Error(`the edit would change the file in another way; add ${quoted} to ${list} yourself`);
  return out;
}
