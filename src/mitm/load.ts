/**
 * The ways into the MITM code, which is loaded on demand: by the server once a config enables
 * MITM, by the commands that read or create the CA. A proxy without MITM never loads it.
 *
 * @peculiar/x509 imports reflect-metadata for its side effect (it installs Reflect.getMetadata),
 * and its dependency tsyringe throws when it loads without it. In code loaded on demand, the
 * compiled program runs x509's ES-module imports (tsyringe among them) before that CommonJS
 * side-effect import, so reflect-metadata is loaded here first, in the order x509 expects.
 */
async function loadReflectMetadata(): Promise<void> {
  await import("reflect-metadata");
}

/** The MITM layer (interception, leaves, the CA and the public roots). */
export async function loadMitmLayer(): Promise<typeof import("./intercept.ts")> {
  await loadReflectMetadata();
  return import("./intercept.ts");
}

/** The CA files: load, create, check. */
export async function loadCaModule(): Promise<typeof import("./ca.ts")> {
  await loadReflectMetadata();
  return import("./ca.ts");
}
