/**
 * Fuzz: parseTomlSteps (src/config/toml.ts) reads long string arrays itself, in slices, and
 * leaves the rest to smol-toml. For any text, valid or broken, it must give what smol-toml's
 * parse gives: the same document, or the same error (message, line, column).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parse as parseToml, TomlError } from "smol-toml";
import { runSteps } from "../../src/config/steps.ts";
import { parseTomlSteps } from "../../src/config/toml.ts";
import { mutatedString } from "../helpers/fuzz/mutate.ts";
import { FUZZ_TIMEOUT_MS, fuzz } from "../helpers/fuzz/runs.ts";

/** A parse as plain data: the document, or the error as smol-toml reports it. */
function outcome(fn: () => unknown): unknown {
  try {
    return { doc: fn() };
  } catch (e) {
    if (!(e instanceof TomlError)) return { other: String(e) };
    return { error: e.message, line: e.line, column: e.column };
  }
}

const sameAsSmolToml = (text: string, minElements: number) => {
  expect(outcome(() => runSteps(parseTomlSteps(text, minElements)))).toEqual(outcome(() => parseToml(text)));
};

// ------------------------------------------------------------------------------- generators

// Numeric names too: under an array of tables, [a.0] names a table in its last element, not element 0.
const bare = fc.constantFrom("network_proxy", "policy", "allowed_domains", "denied_domains", "a", "b-c", "x_1", "7", "0", "1", "length");
const plainChars = fc.constantFrom("a", "z", ".", "*", "-", "0", " ", "\t", "é", "#", "[", "]", ",", "=", "{", "}");
const escapes = fc.constantFrom("\\\\", '\\"', "\\n", "\\t", "\\u00e9", "\\U0001F600", "\\x", "\\u12", "\\");
const basicString = fc
  .array(fc.oneof({ weight: 6, arbitrary: plainChars }, { weight: 1, arbitrary: escapes }, { weight: 1, arbitrary: fc.constantFrom("'") }), { maxLength: 8 })
  .map((p) => `"${p.join("")}"`);
const literalString = fc.array(fc.oneof(plainChars, fc.constantFrom("\\", '"')), { maxLength: 8 }).map((p) => `'${p.join("")}'`);
const otherValue = fc.constantFrom("1", "true", "[1, 2]", "{ a = 1 }", '"""x"""', "'''y'''", "[[1], ['a']]", "2024-01-01", "nan");
const gap = fc.constantFrom("", " ", "\n", "\r\n", "  # note, with 'quotes' and [brackets]\n", "\n\n", "\t");
const element = fc.oneof({ weight: 6, arbitrary: basicString }, { weight: 3, arbitrary: literalString }, { weight: 1, arbitrary: otherValue });

const array = fc
  .tuple(fc.array(fc.tuple(gap, element, gap), { maxLength: 12 }), fc.boolean(), gap)
  .map(([els, trailing, end]) => `[${els.map(([a, e, b]) => `${a}${e}${b}`).join(",")}${trailing && els.length > 0 ? "," : ""}${end}]`);

const keyLine = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(bare, fc.constantFrom(" = ", "=", " =\t"), array, fc.constantFrom("", " # end", " ")).map(([k, eq, a, c]) => `${k}${eq}${a}${c}`),
  },
  { weight: 1, arbitrary: fc.tuple(bare, otherValue).map(([k, v]) => `${k} = ${v}`) },
  { weight: 1, arbitrary: fc.tuple(bare, bare, array).map(([a, b, v]) => `${a}.${b} = ${v}`) },
  { weight: 1, arbitrary: fc.tuple(bare, array).map(([k, v]) => `"${k}" = ${v}`) },
);
const header = fc.oneof(
  { weight: 4, arbitrary: fc.array(bare, { minLength: 1, maxLength: 3 }).map((p) => `[${p.join(".")}]`) },
  { weight: 1, arbitrary: fc.array(bare, { minLength: 1, maxLength: 2 }).map((p) => `[ ${p.join(" . ")} ] # t`) },
  { weight: 1, arbitrary: fc.array(bare, { minLength: 1, maxLength: 2 }).map((p) => `[[${p.join(".")}]]`) },
  { weight: 1, arbitrary: bare.map((p) => `["${p}"]`) },
);
const line = fc.oneof({ weight: 4, arbitrary: keyLine }, { weight: 2, arbitrary: header }, { weight: 1, arbitrary: fc.constantFrom("", "# comment", "  ") });
const document = fc
  .tuple(fc.boolean(), fc.array(line, { maxLength: 10 }), fc.constantFrom("\n", "\r\n"))
  .map(([bom, lines, nl]) => `${bom ? "\uFEFF" : ""}${lines.join(nl)}${nl}`);

const editAlphabet = fc.constantFrom('"', "'", "[", "]", ",", "\n", "\r", "#", "\\", "=", "\u0000", "\u007f", " ", "x", '"""');

// ------------------------------------------------------------------------------- properties

describe("fuzz: parseTomlSteps agrees with smol-toml", () => {
  test(
    "generated documents, every string array read by the slicer: the same document or the same error",
    () => {
      fuzz(
        "toml: steps vs smol-toml",
        document,
        (text) => {
          sameAsSmolToml(text, 1);
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test(
    "mutated documents: the same document or the same error",
    () => {
      fuzz(
        "toml: mutated steps vs smol-toml",
        mutatedString(document, editAlphabet, 3),
        (text) => {
          sameAsSmolToml(text, 1);
        },
        { base: 3000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  test("a long list under a numeric table name after an array of tables lands where smol-toml puts it", () => {
    const list = Array.from({ length: 600 }, (_, i) => `"d${i}.example.com"`).join(", ");
    for (const text of [`[[a]]\nk = []\n[[a]]\n[a.0]\nk = [${list}]\n`, `[a]\n[[a.b]]\nk = []\n[a.b.0]\nk = [${list}]\n`]) {
      expect(outcome(() => runSteps(parseTomlSteps(text)))).toEqual(outcome(() => parseToml(text)));
      expect(outcome(() => runSteps(parseTomlSteps(text, 1)))).toEqual(outcome(() => parseToml(text)));
    }
  });

  test("a real-sized allowlist is read by the slicer, in more than one step, with the document smol-toml gives", () => {
    const names = Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? `'lit${i}.example'` : i % 11 === 0 ? `"esc\\u0041${i}"` : `"n${i}.example.com"`));
    const text = `# head\n[network_proxy]\nmode = "full"\n\n[network_proxy.policy]\nallowed_domains = [\n${names.map((n) => `  ${n}, # c\n`).join("")}]\ndenied_domains = ["x"]\n`;
    const steps = parseTomlSteps(text);
    let yields = 0;
    let r = steps.next();
    while (!r.done) {
      yields++;
      r = steps.next();
    }
    expect(yields).toBeGreaterThan(4);
    expect(r.value).toEqual(parseToml(text));
    // A broken element far down is smol-toml's error, at its own line.
    const broken = text.replace('"n19998.example.com"', '"n19998\u0001"');
    expect(outcome(() => runSteps(parseTomlSteps(broken)))).toEqual(outcome(() => parseToml(broken)));
  });
});
