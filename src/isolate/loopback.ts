/**
 * Bring the loopback interface up inside a fresh network namespace (where it starts down), with
 * the ioctl `ip link set lo up` makes: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP. Through
 * bun:ffi, so that isolation needs no iproute2. The namespace's own root (a user namespace)
 * holds the CAP_NET_ADMIN this needs; outside one it fails, which is the caller's error.
 */
import { FFIType, ptr } from "bun:ffi";
import { openLibc } from "../harden.ts";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
/** sizeof(struct ifreq) on Linux: a 16-byte name and a 24-byte union (flags are its first short). */
const IFREQ_SIZE = 40;

/** Bring `lo` up; throws with the reason when it cannot. */
export function loopbackUp(): void {
  const lib = openLibc(
    {
      socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
      close: { args: [FFIType.i32], returns: FFIType.i32 },
    },
    "the loopback ioctl",
  );
  try {
    const fd = lib.symbols.socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) throw new Error("socket(AF_INET, SOCK_DGRAM) failed");
    try {
      const req = new Uint8Array(IFREQ_SIZE);
      req.set(new TextEncoder().encode("lo"));
      if (lib.symbols.ioctl(fd, SIOCGIFFLAGS, ptr(req)) !== 0) throw new Error("SIOCGIFFLAGS on lo failed");
      const view = new DataView(req.buffer);
      view.setUint16(16, view.getUint16(16, true) | IFF_UP | IFF_RUNNING, true);
      if (lib.symbols.ioctl(fd, SIOCSIFFLAGS, ptr(req)) !== 0) throw new Error("SIOCSIFFLAGS on lo failed (no CAP_NET_ADMIN in this namespace?)");
    } finally {
      lib.symbols.close(fd);
    }
  } finally {
    lib.close();
  }
}
