/**
 * Each platform's answer for paths, secret-file privacy, signals, socket paths and line endings,
 * checked on this machine for Linux, macOS and Windows alike.
 */
import { describe, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig, type ConfigSource, type LoadResult } from "../src/config/load.ts";
import { addToList } from "../src/config/persist.ts";
import { type CommandRunner, fsyncDir, secretFileProblem, writeFileCreateNew } from "../src/fsutil.ts";
import {
  canFsyncDirectory,
  codexHomeFor,
  forwardedSignals,
  isRepeat,
  lineEndingOf,
  privateAclCommand,
  SAME_SIGNAL_MS,
  secretPrivacy,
  shutdownSignals,
  sidFromWhoami,
  unixSocketPathMax,
  whoamiCommand,
} from "../src/platform.ts";
import { unixPathProblem } from "../src/proxy/http/unix.ts";

describe("CODEX_HOME and the config location", () => {
  test("Linux and macOS: ~/.codex, or CODEX_HOME (relative to the working directory)", () => {
    for (const p of ["linux", "darwin"] as const) {
      expect(codexHomeFor(p, {}, "/home/me", "/work")).toBe("/home/me/.codex");
      expect(codexHomeFor(p, { CODEX_HOME: " " }, "/home/me", "/work")).toBe("/home/me/.codex");
      expect(codexHomeFor(p, { CODEX_HOME: "/srv/codex/" }, "/home/me", "/work")).toBe("/srv/codex");
      expect(codexHomeFor(p, { CODEX_HOME: "rel" }, "/home/me", "/work")).toBe("/work/rel");
    }
  });

  test("Windows: %USERPROFILE%\\.codex, drive letters and backslashes, either slash accepted", () => {
    expect(codexHomeFor("win32", {}, "C:\\Users\\me", "D:\\work")).toBe("C:\\Users\\me\\.codex");
    expect(codexHomeFor("win32", { CODEX_HOME: "E:/codex/home" }, "C:\\Users\\me", "D:\\work")).toBe("E:\\codex\\home");
    expect(codexHomeFor("win32", { CODEX_HOME: "codex" }, "C:\\Users\\me", "D:\\work")).toBe("D:\\work\\codex");
    expect(codexHomeFor("win32", { CODEX_HOME: "\\\\server\\share\\codex" }, "C:\\Users\\me", "D:\\work")).toBe("\\\\server\\share\\codex");
  });
});

describe("secret files (admin token, CA key) stay private", () => {
  const dir = mkdtempSync(join(tmpdir(), "cnp-platform-"));
  const file = (name: string, mode: number) => {
    const p = join(dir, name);
    writeFileSync(p, "secret\n", { mode });
    return p;
  };
  /** What Node reports on Windows for a writable file, whatever its access list says. */
  const windowsStat = (st: Stats): Stats => Object.assign(Object.create(Object.getPrototypeOf(st)), st, { mode: 0o100666 });

  test("POSIX: the mode is checked; a file others can read is refused with the chmod that fixes it", () => {
    const open = file("open", 0o644);
    const shut = file("shut", 0o600);
    expect(secretPrivacy("linux")).toBe("mode");
    expect(secretPrivacy("darwin")).toBe("mode");
    for (const p of ["linux", "darwin"] as const) {
      expect(secretFileProblem(open, lstatSync(open), "CA key", p)).toBe(
        `refusing CA key ${open}: its mode 0644 lets other users read it; fix with: chmod 600 ${open}`,
      );
      expect(secretFileProblem(shut, lstatSync(shut), "CA key", p)).toBeNull();
    }
  });

  test("Windows: modes say nothing there (every file reads as 0666), so they are not held against a file; links still are", () => {
    const shut = file("win", 0o600);
    expect(secretPrivacy("win32")).toBe("acl");
    expect(secretFileProblem(shut, windowsStat(lstatSync(shut)), "admin token", "win32")).toBeNull();
    // The same stat on a POSIX system would be refused: the difference is the platform alone.
    expect(secretFileProblem(shut, windowsStat(lstatSync(shut)), "admin token", "linux")).toContain("lets other users read it");
    const link = join(dir, "link");
    symlinkSync(shut, link);
    expect(secretFileProblem(link, lstatSync(link), "admin token", "win32")).toContain("it is a symbolic link");
  });

  test("Windows: a new secret file's access list names only its owner and SYSTEM, by SID", () => {
    const out = '"desktop-7\\alice","S-1-5-21-3623811015-3361044348-30300820-1013"\r\n';
    const sid = sidFromWhoami(out);
    expect(sid).toBe("S-1-5-21-3623811015-3361044348-30300820-1013");
    expect(privateAclCommand("C:\\Users\\alice\\.codex\\network_proxy\\admin.token.tmp", sid!, { SystemRoot: "D:\\WINNT" })).toEqual([
      "D:\\WINNT\\System32\\icacls.exe",
      "C:\\Users\\alice\\.codex\\network_proxy\\admin.token.tmp",
      "/inheritance:r",
      "/grant:r",
      "*S-1-5-21-3623811015-3361044348-30300820-1013:F",
      "*S-1-5-18:F",
    ]);
    expect(sidFromWhoami("ERROR: access denied")).toBeNull();
    // By full path: a whoami.exe or icacls.exe in the working directory (a project) is never run.
    expect(whoamiCommand({})).toEqual(["C:\\Windows\\System32\\whoami.exe", "/user", "/fo", "csv", "/nh"]);
    expect(privateAclCommand("x", sid!)[0]).toBe("C:\\Windows\\System32\\icacls.exe");
    expect(() => privateAclCommand("x", "alice")).toThrow("not a SID");
  });

  test("directories are fsynced where they can be opened (POSIX), skipped on Windows", () => {
    expect(canFsyncDirectory("linux")).toBe(true);
    expect(canFsyncDirectory("darwin")).toBe(true);
    expect(canFsyncDirectory("win32")).toBe(false);
    const missing = join(dir, "no-such-dir");
    expect(() => fsyncDir(missing, "linux")).toThrow();
    expect(() => fsyncDir(missing, "win32")).not.toThrow();
  });
});

describe("signals", () => {
  test("serve drains on SIGINT/SIGTERM on POSIX; on Windows on Ctrl+C, Ctrl+Break and the console closing", () => {
    expect(shutdownSignals("linux")).toEqual(["SIGINT", "SIGTERM"]);
    expect(shutdownSignals("darwin")).toEqual(["SIGINT", "SIGTERM"]);
    expect(shutdownSignals("win32")).toEqual(["SIGINT", "SIGBREAK", "SIGHUP"]);
  });

  test("the same shutdown signal again within half a second is the first delivered twice; anything else skips the drain", () => {
    const first = { sig: "SIGINT" as const, at: 1000 };
    expect(isRepeat(first, "SIGINT", 1000)).toBe(true);
    expect(isRepeat(first, "SIGINT", 1000 + SAME_SIGNAL_MS - 1)).toBe(true);
    expect(isRepeat(first, "SIGINT", 1000 + SAME_SIGNAL_MS)).toBe(false);
    expect(isRepeat(first, "SIGTERM", 1001)).toBe(false);
  });

  test("run passes signals on where signals exist; on Windows the console already reaches the command", () => {
    expect(forwardedSignals("linux")).toEqual(["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"]);
    expect(forwardedSignals("darwin")).toEqual(forwardedSignals("linux"));
    expect(forwardedSignals("win32")).toEqual([]);
  });
});

describe("x-unix-socket paths", () => {
  test("macOS takes 103 bytes (sun_path is 104 with its NUL), Linux 107; longer is a clear 400, counted in bytes", () => {
    expect(unixSocketPathMax("darwin")).toBe(103);
    expect(unixSocketPathMax("linux")).toBe(107);
    const at = (n: number) => `/${"a".repeat(n - 1)}`;
    expect(unixPathProblem(at(103), "darwin")).toBeNull();
    expect(unixPathProblem(at(104), "darwin")).toBe("x-unix-socket path is 104 bytes; sockets on darwin take at most 103");
    expect(unixPathProblem(at(107), "linux")).toBeNull();
    // Multi-byte characters count as their UTF-8 bytes.
    expect(unixPathProblem(`/${"é".repeat(52)}`, "darwin")).toBe("x-unix-socket path is 105 bytes; sockets on darwin take at most 103");
  });
});

describe("config files written on Windows (CRLF line endings, a byte-order mark)", () => {
  const src: ConfigSource = { path: "C:\\cfg\\config.toml", exists: true, dir: "C:\\cfg", overrides: [] };
  const LF = '# policy\n[network_proxy]\nmode = "limited"\n\n[network_proxy.policy]\nallowed_domains = ["example.com", "*.example.org"]\n';
  const CRLF = LF.replace(/\n/g, "\r\n");
  const config = (r: LoadResult) => {
    if (!r.ok) throw new Error(r.problems.join("\n"));
    return r.config.np;
  };

  test("CRLF and a UTF-8 BOM read exactly as the LF file does (no stray \\r in any value)", () => {
    const lf = config(buildConfig(LF, src));
    expect(config(buildConfig(CRLF, src))).toEqual(lf);
    expect(config(buildConfig(`\uFEFF${CRLF}`, src))).toEqual(lf);
    expect(lf.policy.allowed_domains).toEqual(["example.com", "*.example.org"]);
  });

  test("errors in a CRLF file point at the right line", () => {
    const r = buildConfig(CRLF.replace('mode = "limited"', 'mode = "limitd"'), src);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems[0]).toStartWith("C:\\cfg\\config.toml:3: network_proxy.mode");
  });

  test("adding an entry keeps a CRLF file CRLF (and an LF file LF)", () => {
    expect(lineEndingOf(CRLF)).toBe("\r\n");
    expect(lineEndingOf(LF)).toBe("\n");
    expect(lineEndingOf("")).toBe("\n");
    for (const [text, list] of [
      [CRLF, "allowed_domains"],
      [CRLF, "denied_domains"],
      ["[network_proxy]\r\nenabled = true\r\n", "allowed_domains"],
    ] as const) {
      const out = addToList(text, list, "new.example");
      expect(out).not.toMatch(/[^\r]\n/);
      expect(config(buildConfig(out, src)).policy[list]).toContain("new.example");
    }
    expect(addToList(LF, "denied_domains", "new.example")).not.toContain("\r");
  });

  test("a password in the URL of a config whose readers cannot be told from a mode (Windows) is refused, pointing at password_env", () => {
    const r = buildConfig('[network_proxy.upstream]\r\nurl = "http://alice:pw-123456@proxy.corp:3128"\r\n', src, {
      env: {},
      readFile: () => "",
      fileMode: () => null,
    });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems[0]).toBe(
      "C:\\cfg\\config.toml:2: network_proxy.upstream.url: holds a password, and who can read C:\\cfg\\config.toml cannot be told from its mode here; use network_proxy.upstream.password_env or password_file",
    );
    expect(JSON.stringify(r)).not.toContain("pw-123456");
  });
});

describe("creating a secret file on Windows (whoami and icacls answered by a stand-in runner: neither exists here)", () => {
  const dir = mkdtempSync(join(tmpdir(), "cnp-win-"));
  const SID = "S-1-5-21-1-2-3-1001";

  test("the access list is set on the empty temp file before the secret is written, then the file is linked into place", () => {
    const calls: { argv: string[]; size: number | null }[] = [];
    const run: CommandRunner = (argv) => {
      const target = argv[0]!.endsWith("icacls.exe") ? argv[1]! : null;
      calls.push({ argv, size: target ? lstatSync(target).size : null });
      return argv[0]!.endsWith("whoami.exe")
        ? { exitCode: 0, stdout: `"host\\alice","${SID}"\r\n`, stderr: "" }
        : { exitCode: 0, stdout: "processed file", stderr: "" };
    };
    const path = join(dir, "admin.token");
    writeFileCreateNew(path, "tok\n", 0o600, { platform: "win32", run });
    expect(calls.map((c) => c.argv[0]!.split("\\").pop())).toEqual(["whoami.exe", "icacls.exe"]);
    expect(calls[1]!.argv.slice(2)).toEqual(["/inheritance:r", "/grant:r", `*${SID}:F`, "*S-1-5-18:F"]);
    expect(calls[1]!.argv[1]).not.toBe(path); // the temp file, not the final name
    expect(calls[1]!.size).toBe(0); // nothing written yet
    expect(readFileSync(path, "utf8")).toBe("tok\n");
    // A public file (the CA certificate, 0644) gets no access list.
    calls.length = 0;
    writeFileCreateNew(join(dir, "ca.pem"), "cert", 0o644, { platform: "win32", run });
    expect(calls).toEqual([]);
  });

  test("when the access list cannot be set, nothing is written and no file is left", () => {
    const run: CommandRunner = (argv) =>
      argv[0] === "whoami" ? { exitCode: 0, stdout: `"h\\a","${SID}"`, stderr: "" } : { exitCode: 5, stdout: "", stderr: "Access is denied." };
    const sub = mkdtempSync(join(dir, "fail-"));
    expect(() => writeFileCreateNew(join(sub, "ca.key"), "key", 0o600, { platform: "win32", run })).toThrow(`cannot make ${sub}`);
    expect(readdirSync(sub)).toEqual([]);
    const noSid: CommandRunner = () => ({ exitCode: 1, stdout: "", stderr: "whoami failed" });
    expect(() => writeFileCreateNew(join(sub, "ca.key"), "key", 0o600, { platform: "win32", run: noSid })).toThrow(
      '"whoami /user" did not give this user\'s SID (whoami failed)',
    );
    expect(readdirSync(sub)).toEqual([]);
  });
});
