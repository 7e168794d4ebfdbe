import type { IncomingMessage } from "node:http";
import { errorCodes, type FastifyRequest } from "fastify";

type Done = (err: Error | null, body?: Buffer) => void;

/**
 * A file body (CSV, XLSX) read into bytes of its own, each chunk copied in as it arrives. Fastify's `parseAs: "buffer"`
 * keeps the chunks and joins them when the body ends: one synchronous copy of the whole file (12 MB for 100,000 claim
 * rows) on the service's thread, 60–120 ms in which no PUBACK goes out (docs/BENCHMARKS.md). Here a body with a
 * Content-Length goes into one buffer of that size, chunk by chunk, and the result is a whole ArrayBuffer of its own,
 * which the import routes move to a worker thread without copying (`ownBytes`). The limits are Fastify's: the route's
 * `bodyLimit` (413) and a body that does not match its Content-Length (400).
 */
export function fileBody(defaultLimit: number) {
  return (req: FastifyRequest, payload: IncomingMessage, done: Done) => {
    const limit = req.routeOptions.bodyLimit ?? defaultLimit;
    const declared = Number(req.headers["content-length"]);
    const known = Number.isInteger(declared) && declared >= 0;
    if (known && declared > limit) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    let buf = Buffer.allocUnsafeSlow(known ? declared : 64 * 1024);
    let length = 0;
    const stop = () => {
      payload.removeListener("data", onData);
      payload.removeListener("end", onEnd);
      payload.removeListener("error", onEnd);
    };
    function onData(chunk: Buffer | string) {
      const c = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      if (length + c.length > limit) {
        stop();
        return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      }
      if (length + c.length > buf.length) {
        if (known) {
          stop();
          return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        }
        // no Content-Length (chunked): grow by doubling, a copy per doubling
        const bigger = Buffer.allocUnsafeSlow(Math.min(limit, Math.max(buf.length * 2, length + c.length)));
        buf.copy(bigger, 0, 0, length);
        buf = bigger;
      }
      c.copy(buf, length);
      length += c.length;
    }
    function onEnd(err?: Error & { statusCode?: number }) {
      stop();
      if (err) {
        if (!(typeof err.statusCode === "number" && err.statusCode >= 400)) err.statusCode = 400;
        return done(err);
      }
      if (known && length !== declared) return done(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      done(null, length === buf.length ? buf : buf.subarray(0, length));
    }
    payload.on("data", onData);
    payload.on("end", onEnd);
    payload.on("error", onEnd);
    payload.resume();
  };
}
