/**
 * The version, injected by build.ts with `define` (BUILD_VERSION); when running from source it
 * comes from package.json with a "-dev" suffix.
 */
import pkg from "../package.json" with { type: "json" };

declare const BUILD_VERSION: string;

export const VERSION: string = typeof BUILD_VERSION === "string" ? BUILD_VERSION : `${pkg.version}-dev`;
