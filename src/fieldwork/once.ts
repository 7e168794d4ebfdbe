import { createHash } from "node:crypto";
import type { FastifyReply } from "fastify";
import { z } from "zod";
import { IsoTime } from "../http/schemas.js";
import { invalid } from "../platform/errors.js";
import { fieldworkMessage as msg } from "./messages.js";
import type { FieldworkStore } from "./store.js";

/**
 * A change sent with an `Idempotency-Key` header is done once: the same key again (a phone resending what it made
 * offline, not knowing the first try arrived) gets the first answer back; the key with another request is refused.
 * Work orders and field visits share it (their answers are kept in the same table, keyed by the caller's key id).
 */
export function idempotency(deps: { store: Pick<FieldworkStore, "answer" | "putAnswer">; clock: () => number }) {
  const pending = new Map<string, Promise<unknown>>();
  const once = async (
    req: { headers: Record<string, unknown>; principal: { keyId: string } | null; method: string; url: string; body: unknown },
    reply: FastifyReply,
    status: number,
    fn: () => Promise<unknown>,
  ) => {
    const header = req.headers["idempotency-key"];
    if (typeof header !== "string" || header.length === 0) return reply.status(status).send(await fn());
    if (header.length > 200) throw invalid(msg("idempotency_reused", { key: header.slice(0, 40) }));
    const key = `${req.principal?.keyId ?? ""}:${header}`;
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.from(JSON.stringify(req.body ?? null));
    const fingerprint = createHash("sha256").update(`${req.method} ${req.url}\n`).update(body).digest("hex");
    const run = async () => {
      const prior = await deps.store.answer(key);
      if (prior) {
        if (prior.fingerprint !== fingerprint) throw invalid(msg("idempotency_reused", { key: header }));
        return { status: prior.status, body: JSON.parse(prior.response) as unknown, replayed: true };
      }
      const out = await fn();
      await deps.store.putAnswer(key, { fingerprint, status, response: JSON.stringify(out) }, deps.clock());
      return { status, body: out, replayed: false };
    };
    const chained = (pending.get(key) ?? Promise.resolve()).then(run, run);
    pending.set(key, chained);
    try {
      const r = await chained;
      if (r.replayed) reply.header("idempotent-replayed", "true");
      return reply.status(r.status).send(r.body);
    } finally {
      if (pending.get(key) === chained) pending.delete(key);
    }
  };
  const header = z.object({
    "idempotency-key": z
      .string()
      .max(200)
      .optional()
      .describe("A key the phone makes for this entry: sent again (after a lost answer, or from the offline queue), it is done once"),
  });
  return { once, header };
}

/** Where and when a photo was taken, read by the phone from its EXIF before it resized it (the resize loses them). */
export const PhotoTaken = z.object({
  takenAt: IsoTime.optional().describe("EXIF DateTimeOriginal, read on the phone (the file's own EXIF wins)"),
  lat: z.coerce.number().min(-90).max(90).optional().describe("EXIF GPS latitude, read on the phone"),
  lon: z.coerce.number().min(-180).max(180).optional().describe("EXIF GPS longitude, read on the phone"),
});
export type PhotoTakenInput = z.infer<typeof PhotoTaken>;
/** The photo's fields: its own EXIF's where the file kept them, else what the phone read before resizing. */
export function taken(
  clean: { takenAt: number | null; gps: { lat: number; lon: number } | null },
  q: PhotoTakenInput | undefined,
): { takenAt: number | null; gps: { lat: number; lon: number } | null } {
  const at = q?.takenAt !== undefined ? Date.parse(q.takenAt) : Number.NaN;
  return {
    takenAt: clean.takenAt ?? (Number.isFinite(at) ? at : null),
    gps: clean.gps ?? (q?.lat !== undefined && q.lon !== undefined ? { lat: q.lat, lon: q.lon } : null),
  };
}
