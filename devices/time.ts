import { z } from "zod";

/** Earliest plausible device time: 2000-01-01. Anything earlier is an unset RTC, not a reading. */
const MIN_TS = Date.UTC(2000, 0, 1);
/** Latest representable time we accept at all (year 2100); the "not in the future" rule is applied at ingest. */
const MAX_TS = Date.UTC(2100, 0, 1);

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * `ts`: epoch milliseconds (integer) or an RFC 3339 string with an explicit offset.
 * Normalised to epoch milliseconds. A string without an offset is refused: a device
 * clock in local time without a zone is ambiguous by 8 hours in China.
 */
export const TimestampSchema = z.union([z.number().int("hint_ts_whole_ms"), z.string().regex(RFC3339, "hint_ts_format")]).transform((v, ctx) => {
  const ms = typeof v === "number" ? v : Date.parse(v);
  if (!Number.isFinite(ms) || ms < MIN_TS || ms > MAX_TS) {
    ctx.addIssue({ code: "custom", message: "hint_ts_implausible" });
    return z.NEVER;
  }
  return ms;
});

/** When a parsed `ts` is already what TimestampSchema returns (epoch ms in range), for the contract's fast path (exact.ts). */
export const exactTimestamp = (v: unknown): boolean => typeof v === "number" && Number.isSafeInteger(v) && v >= MIN_TS && v <= MAX_TS;
/** The contract's own transforms the fast path can answer for (`compileExact`'s `known`). */
export const EXACT_KNOWN: ReadonlyMap<z.ZodType, (v: unknown) => boolean> = new Map<z.ZodType, (v: unknown) => boolean>([
  [TimestampSchema, exactTimestamp],
]);

/** Ingest rules for device time (PROTOCOL.md "Clock rules"). */
export const MAX_FUTURE_MS = 5 * 60_000;
export const MAX_AGE_MS = 60 * 24 * 3600_000;
