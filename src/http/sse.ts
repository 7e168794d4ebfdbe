import type { FastifyReply, FastifyRequest } from "fastify";

/**
 * Takes over a request as a Server-Sent Events stream: headers, a keep-alive comment every 15 s (so proxies keep
 * it open), and clean-up when the client goes away. Returns a sender and a hook for more clean-up.
 */
export function openEventStream(req: FastifyRequest, reply: FastifyReply) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
  // Now, not with the first event: a stream with nothing to say yet (no open orders in the caller's stations) would
  // otherwise leave the client connecting until the first keep-alive, 15 s later.
  res.flushHeaders();
  const ping = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  const cleanups: (() => void)[] = [() => clearInterval(ping)];
  req.raw.on("close", () => {
    for (const c of cleanups) c();
  });
  return {
    send: (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
    onClose: (fn: () => void) => cleanups.push(fn),
  };
}
