/**
 * Ad-hoc code signatures for 64-bit Mach-O executables, written and checked without macOS.
 *
 * macOS on Apple silicon kills an executable whose signature does not match its bytes, and
 * `bun build --compile` appends the program to a copy of Bun's runtime: the signature Bun
 * writes for its darwin-x64 output still describes Bun's own runtime (it covers a shorter
 * range and its page hashes do not match). So every darwin binary we release is re-signed
 * here the way the linker signs: one CodeDirectory, flags adhoc|linker-signed, SHA-256 over
 * 4 KiB pages of everything before the signature, no requirements and no entitlements: what ld
 * itself writes (codesign --sign - would add a requirements blob and special slots). The kernel
 * accepts it, and `codesign --force` can replace it with a real signature.
 *
 * verifyAdhoc() reads the signature back and recomputes every page hash; it shares only the
 * reading of the load commands with signAdhoc(). The test also holds signAdhoc() to Bun's own
 * correct darwin-arm64 signature, byte for byte.
 */

const MH_MAGIC_64 = 0xfeedfacf;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CS_ADHOC = 0x2;
const CS_LINKER_SIGNED = 0x20000;
const CS_EXECSEG_MAIN_BINARY = 1n;
const CD_VERSION = 0x20400; // has the exec-segment fields
const CD_HEADER = 88;
const PAGE_SHIFT = 12;
const PAGE = 1 << PAGE_SHIFT;
const HASH_SIZE = 32;
const HASH_SHA256 = 2;

interface Layout {
  /** Offsets of the fields we rewrite, and their values. */
  readonly sigCmd: number;
  readonly dataoff: number;
  readonly datasize: number;
  readonly textFilesize: bigint;
  readonly linkedit: { readonly cmd: number; readonly fileoff: bigint; readonly filesize: bigint; readonly vmsize: bigint };
}

function layout(buf: Buffer): Layout {
  if (buf.length < 32 || buf.readUInt32LE(0) !== MH_MAGIC_64) throw new Error("not a 64-bit little-endian Mach-O file");
  const ncmds = buf.readUInt32LE(16);
  const end = 32 + buf.readUInt32LE(20);
  let off = 32;
  let sig: { cmd: number; dataoff: number; datasize: number } | null = null;
  let text: bigint | null = null;
  let linkedit: Layout["linkedit"] | null = null;
  for (let i = 0; i < ncmds; i++) {
    if (off + 8 > end) throw new Error("load commands run past their declared size");
    const cmd = buf.readUInt32LE(off);
    const size = buf.readUInt32LE(off + 4);
    if (size < 8 || off + size > end) throw new Error(`load command ${i} has a bad size ${size}`);
    if (cmd === LC_CODE_SIGNATURE) sig = { cmd: off, dataoff: buf.readUInt32LE(off + 8), datasize: buf.readUInt32LE(off + 12) };
    if (cmd === LC_SEGMENT_64) {
      const name = buf
        .subarray(off + 8, off + 24)
        .toString("latin1")
        .replace(/\0+$/, "");
      const seg = { cmd: off, vmsize: buf.readBigUInt64LE(off + 32), fileoff: buf.readBigUInt64LE(off + 40), filesize: buf.readBigUInt64LE(off + 48) };
      if (name === "__TEXT") text = seg.filesize;
      if (name === "__LINKEDIT") linkedit = seg;
    }
    off += size;
  }
  if (sig === null) throw new Error("no LC_CODE_SIGNATURE load command: nothing to sign into");
  if (text === null || linkedit === null) throw new Error("no __TEXT or __LINKEDIT segment");
  if (sig.dataoff % 16 !== 0) throw new Error(`the signature offset ${sig.dataoff} is not 16-byte aligned`);
  if (linkedit.fileoff + linkedit.filesize !== BigInt(sig.dataoff + sig.datasize)) {
    throw new Error("the signature is not the last thing in __LINKEDIT");
  }
  return { sigCmd: sig.cmd, dataoff: sig.dataoff, datasize: sig.datasize, textFilesize: text, linkedit };
}

function sha256(data: Uint8Array): Uint8Array {
  return new Bun.CryptoHasher("sha256").update(data).digest();
}

const alignUp = (n: bigint, a: bigint) => ((n + a - 1n) / a) * a;

/**
 * A copy of `input` with a fresh ad-hoc signature over everything before the signature's
 * offset. The file ends right after the signature (any stale tail of the old one is dropped),
 * and __LINKEDIT's sizes follow the signature's new size.
 */
export function signAdhoc(input: Uint8Array, identifier: string): Buffer {
  const src = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const l = layout(src);
  if (l.dataoff > src.length) throw new Error(`the file (${src.length} bytes) ends before its signature offset ${l.dataoff}: truncated?`);
  const ident = Buffer.from(`${identifier}\0`, "utf8");
  const nCode = Math.ceil(l.dataoff / PAGE);
  const hashOffset = CD_HEADER + ident.length;
  const cdLength = hashOffset + nCode * HASH_SIZE;
  const blobLength = 12 + 8 + cdLength;
  const datasize = blobLength; // no padding, as the linker writes it

  const out = Buffer.alloc(l.dataoff + datasize);
  src.copy(out, 0, 0, l.dataoff);
  // Header fields first: they are inside the hashed range.
  out.writeUInt32LE(datasize, l.sigCmd + 12);
  const filesize = BigInt(l.dataoff + datasize) - l.linkedit.fileoff;
  out.writeBigUInt64LE(filesize, l.linkedit.cmd + 48);
  let vmsize = alignUp(filesize, 0x4000n); // bigints: Math.max does not take them
  if (vmsize < l.linkedit.vmsize) vmsize = l.linkedit.vmsize;
  out.writeBigUInt64LE(vmsize, l.linkedit.cmd + 32);

  let p = l.dataoff;
  out.writeUInt32BE(CSMAGIC_EMBEDDED_SIGNATURE, p);
  out.writeUInt32BE(blobLength, p + 4);
  out.writeUInt32BE(1, p + 8); // one blob
  out.writeUInt32BE(0, p + 12); // CSSLOT_CODEDIRECTORY
  out.writeUInt32BE(20, p + 16); // its offset in the superblob
  p += 20;
  out.writeUInt32BE(CSMAGIC_CODEDIRECTORY, p);
  out.writeUInt32BE(cdLength, p + 4);
  out.writeUInt32BE(CD_VERSION, p + 8);
  out.writeUInt32BE(CS_ADHOC | CS_LINKER_SIGNED, p + 12);
  out.writeUInt32BE(hashOffset, p + 16);
  out.writeUInt32BE(CD_HEADER, p + 20); // identOffset
  out.writeUInt32BE(0, p + 24); // nSpecialSlots
  out.writeUInt32BE(nCode, p + 28);
  out.writeUInt32BE(l.dataoff, p + 32); // codeLimit
  out[p + 36] = HASH_SIZE;
  out[p + 37] = HASH_SHA256;
  out[p + 38] = 0; // platform
  out[p + 39] = PAGE_SHIFT;
  // spare2, scatterOffset, teamOffset, spare3, codeLimit64: zero (Buffer.alloc)
  out.writeBigUInt64BE(0n, p + 64); // execSegBase
  out.writeBigUInt64BE(l.textFilesize, p + 72); // execSegLimit
  out.writeBigUInt64BE(CS_EXECSEG_MAIN_BINARY, p + 80);
  ident.copy(out, p + CD_HEADER);
  for (let i = 0; i < nCode; i++) {
    const start = i * PAGE;
    out.set(sha256(out.subarray(start, Math.min(start + PAGE, l.dataoff))), p + hashOffset + i * HASH_SIZE);
  }
  return out;
}

export interface SignatureReport {
  readonly ok: boolean;
  /** What is wrong, empty when ok. */
  readonly problems: readonly string[];
  readonly identifier: string | null;
  readonly flags: number | null;
  readonly pages: number;
}

/**
 * Check an embedded signature the way the kernel and `codesign --verify --strict` read it: the
 * CodeDirectory covers every byte before the signature, every page hash matches, and nothing
 * follows the signature.
 */
export function verifyAdhoc(input: Uint8Array): SignatureReport {
  try {
    return verify(input);
  } catch (e) {
    // Offsets that point outside the file (a malformed or truncated signature).
    return { ok: false, problems: [`unreadable signature: ${(e as Error).message}`], identifier: null, flags: null, pages: 0 };
  }
}

function verify(input: Uint8Array): SignatureReport {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const problems: string[] = [];
  let l: Layout;
  try {
    l = layout(buf);
  } catch (e) {
    return { ok: false, problems: [(e as Error).message], identifier: null, flags: null, pages: 0 };
  }
  const fail = (m: string) => ({ ok: false, problems: [...problems, m], identifier: null, flags: null, pages: 0 });
  if (buf.length !== l.dataoff + l.datasize) problems.push(`${buf.length - l.dataoff - l.datasize} bytes follow the signature`);
  const sb = l.dataoff;
  if (sb + 12 > buf.length || buf.readUInt32BE(sb) !== CSMAGIC_EMBEDDED_SIGNATURE) return fail("no embedded-signature superblob at the signature offset");
  if (buf.readUInt32BE(sb + 4) > l.datasize) return fail("the superblob is longer than the signature space");
  const count = buf.readUInt32BE(sb + 8);
  let cd = -1;
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32BE(sb + 12 + i * 8) === 0) cd = sb + buf.readUInt32BE(sb + 16 + i * 8);
  }
  if (cd < 0 || buf.readUInt32BE(cd) !== CSMAGIC_CODEDIRECTORY) return fail("no CodeDirectory");
  const flags = buf.readUInt32BE(cd + 12);
  const hashOffset = buf.readUInt32BE(cd + 16);
  const identOffset = buf.readUInt32BE(cd + 20);
  const nCode = buf.readUInt32BE(cd + 28);
  const codeLimit = buf.readUInt32BE(cd + 32);
  const hashSize = buf[cd + 36]!;
  const hashType = buf[cd + 37]!;
  const page = 1 << buf[cd + 39]!;
  const cdLength = buf.readUInt32BE(cd + 4);
  if (cd + cdLength > sb + l.datasize) return fail("the CodeDirectory runs past the signature space");
  if (hashOffset + nCode * hashSize > cdLength || identOffset >= cdLength) return fail("the CodeDirectory's hashes or identifier lie outside it");
  const identEnd = buf.indexOf(0, cd + identOffset);
  const identifier = buf.subarray(cd + identOffset, identEnd).toString("utf8");
  if (hashType !== HASH_SHA256 || hashSize !== HASH_SIZE) problems.push(`hash type ${hashType}/${hashSize}, expected SHA-256`);
  if (codeLimit !== l.dataoff) problems.push(`the signature covers ${codeLimit} bytes, but the code runs to ${l.dataoff}`);
  if (nCode !== Math.ceil(codeLimit / page)) problems.push(`${nCode} page hashes for ${Math.ceil(codeLimit / page)} pages`);
  if ((flags & CS_ADHOC) === 0) problems.push(`flags 0x${flags.toString(16)} lack adhoc: this is not an ad-hoc signature`);
  let bad = 0;
  if (hashType === HASH_SHA256 && hashSize === HASH_SIZE) {
    for (let i = 0; i < nCode; i++) {
      const start = i * page;
      const want = buf.subarray(cd + hashOffset + i * hashSize, cd + hashOffset + (i + 1) * hashSize);
      if (!Buffer.from(sha256(buf.subarray(start, Math.min(start + page, codeLimit)))).equals(want)) bad++;
    }
  }
  if (bad > 0) problems.push(`${bad} of ${nCode} page hashes do not match the file`);
  return { ok: problems.length === 0, problems, identifier, flags, pages: nCode };
}
