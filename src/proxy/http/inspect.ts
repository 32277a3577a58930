/**
 * `mitm.inspect`: one log line per intercepted exchange with the body sizes (never contents),
 * and the path without its query string unless `mitm.log_query` is on.
 */
import type { MitmConfig } from "../../config/schema.ts";
import type { Exchange } from "./exchange.ts";

export function inspectLine(ex: Exchange, m: MitmConfig): Record<string, unknown> {
  const path = ex.spec.path;
  const q = path.indexOf("?");
  const req = ex.reqBody.payload;
  const res = ex.resBody?.payload ?? 0;
  return {
    host: ex.spec.hostHeader,
    method: ex.spec.req.method,
    path: m.log_query || q < 0 ? path : path.slice(0, q),
    status: ex.res?.status,
    request_body_len: req,
    request_truncated: req > m.max_body_bytes,
    response_body_len: res,
    response_truncated: res > m.max_body_bytes,
  };
}
