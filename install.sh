#!/bin/sh
# Install codex-network-proxy: download the binary for this machine from a release directory,
# check it against the directory's SHA256SUMS, and put it in ~/.local/bin (or a prefix you give).
# Nothing is installed unless the checksum matches; a mismatch leaves no file behind and any
# installed binary untouched. Usage: see usage() below, or run with --help.
set -eu

NAME=codex-network-proxy
base_url=${CODEX_NETWORK_PROXY_BASE_URL:-}
prefix=${CODEX_NETWORK_PROXY_PREFIX:-}
bin_dir=
version=
target=
print_target=0
insecure_http=0

say() { printf '%s\n' "$NAME install: $*" >&2; }
die() { say "$*"; exit 1; }
usage() {
  cat <<'USAGE'
Install codex-network-proxy from a release directory (SHA256SUMS and the binaries).

  sh install.sh --base-url URL [--prefix DIR | --bin-dir DIR] [--version V] [--target NAME]
  sh install.sh --print-target

  --base-url URL   where the release files are (or CODEX_NETWORK_PROXY_BASE_URL); any static
                   file server works. https, or http on this machine (127.0.0.1, localhost, ::1)
  --insecure-http  allow a plain http URL to another machine (anyone on the path could swap the
                   binary and its checksum together)
  --prefix DIR     install into DIR/bin (default: ~/.local, so ~/.local/bin)
  --bin-dir DIR    install into DIR itself
  --version V      pick this version when SHA256SUMS lists more than one
  --target NAME    skip detection: linux-x64, linux-x64-baseline, linux-x64-musl, linux-arm64,
                   linux-arm64-musl, darwin-x64, darwin-arm64, windows-x64, windows-arm64, ...
  --print-target   print the build this machine would get, and exit

The checksum proves the download is the file the release directory lists, not who made it:
fetch install.sh and the release from a location you trust.
USAGE
}

while [ $# -gt 0 ]; do
  case $1 in
    --base-url) [ $# -ge 2 ] || die "--base-url needs a URL"; base_url=$2; shift 2 ;;
    --base-url=*) base_url=${1#*=}; shift ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; bin_dir=$2; shift 2 ;;
    --bin-dir=*) bin_dir=${1#*=}; shift ;;
    --version) [ $# -ge 2 ] || die "--version needs a version"; version=$2; shift 2 ;;
    --version=*) version=${1#*=}; shift ;;
    --target) [ $# -ge 2 ] || die "--target needs a name"; target=$2; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    --print-target) print_target=1; shift ;;
    --insecure-http) insecure_http=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done

# --- what this machine is ---------------------------------------------------------------
is_musl() {
  # glibc answers getconf GNU_LIBC_VERSION; musl has no such variable.
  if getconf GNU_LIBC_VERSION >/dev/null 2>&1; then return 1; fi
  if ldd --version 2>&1 | grep -qi musl; then return 0; fi
  for f in /lib/ld-musl-*.so.1; do [ -e "$f" ] && return 0; done
  return 1
}

detect() {
  os=$(uname -s)
  arch=$(uname -m)
  case $os in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    MINGW* | MSYS* | CYGWIN*) os=windows ;;
    *) die "no build for the operating system '$os'; the README lists the platforms" ;;
  esac
  case $arch in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no build for the processor '$arch'; the README lists the platforms" ;;
  esac
  # A shell under Rosetta 2 reports x86_64 on an Apple silicon Mac: take the native build.
  if [ "$os" = darwin ] && [ "$arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    arch=arm64
  fi
  variant=
  if [ "$os" = linux ] && is_musl; then variant=-musl; fi
  # The default x64 build needs AVX2 (Intel Haswell / AMD Excavator, 2013 on).
  if [ "$os" = linux ] && [ "$arch" = x64 ] && [ -r /proc/cpuinfo ] && ! grep -qw avx2 /proc/cpuinfo; then
    [ -z "$variant" ] || die "this CPU has no AVX2 and there is no musl build without it; build from source (see the README)"
    variant=-baseline
  fi
  echo "$os-$arch$variant"
}

native=0
if [ -z "$target" ]; then
  target=$(detect)
  native=1
fi
case $target in
  *[!a-z0-9-]* | '') die "bad target name '$target'" ;;
esac
ext=
case $target in windows-*) ext=.exe ;; esac
if [ "$print_target" -eq 1 ]; then
  echo "$target"
  exit 0
fi

[ -n "$base_url" ] || die "no release location: pass --base-url URL or set CODEX_NETWORK_PROXY_BASE_URL"
base_url=${base_url%/}
case $base_url in
  https://*) protocols='=https' ;;
  http://127.0.0.1[:/]* | http://127.0.0.1 | http://localhost[:/]* | http://localhost | http://\[::1\]*) protocols='=http,https' ;;
  http://*)
    [ "$insecure_http" -eq 1 ] || die "refusing plain http to another machine ($base_url): anyone on the path could replace the binary and SHA256SUMS together; use https, or pass --insecure-http"
    protocols='=http,https' ;;
  *) die "the base URL must start with https:// (or http:// on this machine): $base_url" ;;
esac
if [ -z "$bin_dir" ]; then
  if [ -z "$prefix" ]; then
    [ -n "${HOME:-}" ] || die "HOME is not set, so there is no ~/.local/bin: pass --prefix DIR or --bin-dir DIR"
    prefix=$HOME/.local
  fi
  bin_dir=$prefix/bin
fi

# --- tools ---------------------------------------------------------------------------------
if command -v curl >/dev/null 2>&1; then
  # exec: fetch runs as a background job (get below), whose pid must be the download itself.
  fetch() { exec curl -fsSL --proto "$protocols" --proto-redir "$protocols" --connect-timeout 30 --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  [ "$protocols" = '=https' ] && wget_https=--https-only || wget_https=
  fetch() { exec wget -q --tries=2 --timeout=30 $wget_https -O "$2" "$1"; }
else
  die "neither curl nor wget is installed"
fi
if command -v sha256sum >/dev/null 2>&1; then
  # Read from standard input: a file name with a backslash would change the output's format.
  sha256() { sha256sum < "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 < "$1" | cut -d' ' -f1; }
elif command -v openssl >/dev/null 2>&1; then
  sha256() { openssl dgst -sha256 -r < "$1" | cut -d' ' -f1; }
else
  die "no SHA-256 tool (sha256sum, shasum or openssl) to check the download with"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-install.XXXXXX")
staged=
fetch_pid=
cleanup() {
  # A download cut short by a signal does not go on in the background.
  if [ -n "$fetch_pid" ]; then kill "$fetch_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
  if [ -n "$staged" ]; then rm -f "$staged"; fi
}
# The download runs as a child we wait for, so a signal reaches the trap at once and the
# child can be stopped with the rest.
get() {
  fetch "$1" "$2" &
  fetch_pid=$!
  wait "$fetch_pid" && status=0 || status=$?
  fetch_pid=
  return "$status"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

# --- which file ----------------------------------------------------------------------------
get "$base_url/SHA256SUMS" "$tmp/SHA256SUMS" || die "cannot download $base_url/SHA256SUMS"
# Lines are "<64 hex>  <file>" (or " *<file>", binary mode; CRLF line ends are read too); ours
# end in -<target>[.exe] after the version.
valid=$(tr -d '\r' < "$tmp/SHA256SUMS" | awk 'length($1) == 64 && $1 ~ /^[0-9a-fA-F]+$/ && NF == 2 { n++ } END { print n + 0 }')
[ "$valid" -gt 0 ] || die "$base_url/SHA256SUMS has no checksum lines (is the base URL right?)"
matches=$(tr -d '\r' < "$tmp/SHA256SUMS" | awk -v t="-$target$ext" -v v="$version" -v n="$NAME-" '
  length($1) == 64 && $1 ~ /^[0-9a-fA-F]+$/ && NF == 2 {
    f = $2
    sub(/^\*/, "", f)
    if (f !~ /^[A-Za-z0-9._+-]+$/) next
    if (substr(f, 1, length(n)) != n) next
    if (length(f) <= length(n) + length(t) || substr(f, length(f) - length(t) + 1) != t) next
    ver = substr(f, length(n) + 1, length(f) - length(n) - length(t))
    if (v != "" && ver != v) next
    print tolower($1), f
  }')
[ -n "$matches" ] || die "SHA256SUMS at $base_url lists no build for $target${version:+ of version $version}"
count=$(printf '%s\n' "$matches" | wc -l | tr -d ' ')
[ "$count" -eq 1 ] || die "SHA256SUMS lists $count builds for $target; pick one with --version: $(printf '%s\n' "$matches" | cut -d' ' -f2 | tr '\n' ' ')"
want=${matches%% *}
file=${matches#* }

# --- download, check, install ----------------------------------------------------------------
say "downloading $file"
get "$base_url/$file" "$tmp/$file" || die "cannot download $base_url/$file"
got=$(sha256 "$tmp/$file")
if [ "$got" != "$want" ]; then
  die "checksum mismatch for $file: SHA256SUMS says $want, the download is $got; nothing was installed"
fi

mkdir -p "$bin_dir" || die "cannot create $bin_dir"
dest=$bin_dir/$NAME$ext
[ ! -d "$dest" ] || die "$dest is a directory; remove it or choose another --bin-dir (nothing was installed)"
# Staged beside the destination and renamed over it, so the old binary is replaced at once.
staged=$bin_dir/.$NAME.install.$$
cp "$tmp/$file" "$staged" || die "cannot write to $bin_dir"
chmod 0755 "$staged"
if [ "$native" -eq 1 ] && [ "$ext" = "" ]; then
  "$staged" --version >/dev/null 2>&1 || die "$file could not be run here (nothing was installed): a build for another machine (try --target), or $bin_dir is on a noexec file system"
fi
mv -f "$staged" "$dest" || die "cannot replace $dest"
staged=
say "installed $dest ($file, sha256 $want)"
case ":${PATH:-}:" in
  *":$bin_dir:"*) ;;
  *) say "note: $bin_dir is not on your PATH; add it, e.g. export PATH=\"$bin_dir:\$PATH\"" ;;
esac
