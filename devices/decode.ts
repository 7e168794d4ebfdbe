import type { z } from "zod";
import { type BlenderBatch, BlenderBatchSchema, type BlenderTelemetry, BlenderTelemetrySchema } from "./blender.js";
import { type Ack, AckSchema } from "./control.js";
import { compileExact, type Exact } from "./exact.js";
import type { Family } from "./ids.js";
import { type Status, StatusSchema } from "./status.js";
import { type StreetlightTelemetry, StreetlightTelemetrySchema } from "./streetlight.js";
import { EXACT_KNOWN, MAX_AGE_MS, MAX_FUTURE_MS } from "./time.js";
import type { UplinkKind } from "./topics.js";

export type DecodedMessage =
  | { family: "streetlight"; kind: "telemetry"; body: StreetlightTelemetry }
  | { family: "blender"; kind: "telemetry"; body: BlenderTelemetry }
  | { family: "blender"; kind: "batch"; body: BlenderBatch }
  | { family: Family; kind: "status"; body: Status }
  | { family: "streetlight"; kind: "ack"; body: Ack };

/** Stable reject reasons: they are counted per device and appear in metrics and the API. */
export const REJECT_REASONS = [
  "bad_topic",
  "too_large",
  "not_utf8",
  "bad_json",
  "invalid",
  "ts_future",
  "ts_too_old",
  "unknown_device",
  "wrong_family",
  "disabled",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export type DecodeResult =
  | {
      ok: true;
      message: DecodedMessage;
      ts: number;
      /**
       * True when the payload's bytes are the decoded body's own JSON: the fast path vouched for it, it is on one line
       * and has no byte order mark. The write-ahead log then copies the bytes instead of writing the body out again.
       */
      ownJson?: true;
    }
  | { ok: false; reason: RejectReason; detail: DecodeProblem };

/**
 * Why a payload was rejected, as a code with its figures, never a sentence: the service words it in the reader's
 * language (src/ingest/messages.ts). `issues` are zod's, the first five.
 */
export type DecodeProblem =
  | { code: "payload_over_limit"; params: { bytes: number; limit: number } }
  | { code: "kind_not_published"; params: { family: Family; kind: string } }
  | { code: "payload_not_utf8"; params: Record<string, never> }
  | { code: "payload_not_json"; params: { position: number | null } }
  | { code: "payload_invalid"; params: { issues: readonly z.core.$ZodIssue[] } }
  | { code: "payload_lone_surrogate"; params: Record<string, never> }
  | { code: "payload_duplicate_key"; params: { path: string } }
  | { code: "payload_too_deep"; params: { max: number } }
  | { code: "ts_ahead"; params: { aheadS: number; limitS: number } }
  | { code: "ts_too_old"; params: { maxDays: number } };

const SCHEMAS: Record<Family, Partial<Record<UplinkKind, z.ZodType>>> = {
  streetlight: { telemetry: StreetlightTelemetrySchema, status: StatusSchema, ack: AckSchema },
  blender: { telemetry: BlenderTelemetrySchema, batch: BlenderBatchSchema, status: StatusSchema },
};

/** Each schema with its fast path where there is one (exact.ts): messages it vouches for skip zod. */
const CONTRACT = Object.fromEntries(
  Object.entries(SCHEMAS).map(([family, kinds]) => [
    family,
    Object.fromEntries(Object.entries(kinds).map(([kind, schema]) => [kind, { schema, exact: compileExact(schema, EXACT_KNOWN) }])),
  ]),
) as Record<Family, Partial<Record<UplinkKind, { schema: z.ZodType; exact: Exact | null }>>>;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decode one payload against the v1 contract. Bad input is data, not an exception:
 * this never throws, whatever the bytes.
 */
export function decodePayload(family: Family, kind: UplinkKind, payload: Uint8Array, receivedAt: number, maxBytes: number): DecodeResult {
  if (payload.byteLength > maxBytes) {
    return { ok: false, reason: "too_large", detail: { code: "payload_over_limit", params: { bytes: payload.byteLength, limit: maxBytes } } };
  }
  const contract = CONTRACT[family]?.[kind];
  if (!contract) return { ok: false, reason: "bad_topic", detail: { code: "kind_not_published", params: { family, kind } } };
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return { ok: false, reason: "not_utf8", detail: { code: "payload_not_utf8", params: {} } };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e: unknown) {
    // (where the parser says where it stopped, a device maker can find the byte)
    const at = e instanceof Error ? /position (\d+)/.exec(e.message) : null;
    return { ok: false, reason: "bad_json", detail: { code: "payload_not_json", params: { position: at ? Number(at[1]) : null } } };
  }
  if (deeperThan(payload, MAX_DEPTH)) return { ok: false, reason: "invalid", detail: { code: "payload_too_deep", params: { max: MAX_DEPTH } } };
  const unsound = unsoundJson(payload, text, json);
  if (unsound) return { ok: false, reason: "invalid", detail: unsound };
  const exact = contract.exact?.(json) === true;
  const parsed = exact ? ({ success: true, data: json } as const) : contract.schema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: "invalid", detail: { code: "payload_invalid", params: { issues: parsed.error.issues.slice(0, 5) } } };
  }
  const body = parsed.data as { ts?: number };
  const ts = body.ts ?? receivedAt;
  if (ts > receivedAt + MAX_FUTURE_MS) {
    return {
      ok: false,
      reason: "ts_future",
      detail: { code: "ts_ahead", params: { aheadS: Math.round((ts - receivedAt) / 1000), limitS: MAX_FUTURE_MS / 1000 } },
    };
  }
  if (ts < receivedAt - MAX_AGE_MS) {
    return { ok: false, reason: "ts_too_old", detail: { code: "ts_too_old", params: { maxDays: MAX_AGE_MS / 86_400_000 } } };
  }
  const message = { family, kind, body: parsed.data } as DecodedMessage;
  // (0x0a is never part of a longer UTF-8 sequence; 0xef first is the byte order mark the decoder dropped)
  return exact && payload.indexOf(0x0a) < 0 && payload[0] !== 0xef ? { ok: true, message, ts, ownJson: true } : { ok: true, message, ts };
}

const COLON = 0x3a;
/** Nesting of objects and arrays a payload may have: the contracts need 3; the checks below walk values recursively. */
export const MAX_DEPTH = 16;

/**
 * True when objects and arrays nest deeper than `max` (outside strings). Cheap on the hot path: the exact walk runs
 * only when the payload has more opening brackets than `max` at all (a reading has about six).
 */
function deeperThan(payload: Uint8Array, max: number): boolean {
  let openers = 0;
  for (let i = payload.indexOf(0x7b); i >= 0 && openers <= max; i = payload.indexOf(0x7b, i + 1)) openers++;
  for (let i = payload.indexOf(0x5b); i >= 0 && openers <= max; i = payload.indexOf(0x5b, i + 1)) openers++;
  if (openers <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i];
    if (inString) {
      if (b === 0x5c)
        i++; // a backslash escapes the next byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x7b || b === 0x5b) {
      if (++depth > max) return true;
    } else if (b === 0x7d || b === 0x5d) depth--;
  }
  return false;
}

/**
 * What JSON.parse lets through and no store may take: an unpaired UTF-16 surrogate written as an escape (`"\\ud800"`:
 * valid UTF-8 bytes, but not Unicode text; DuckDB refuses the whole batch that holds it), and a key given twice
 * (`"soc":99999,"soc":78`: the parser keeps the last, the stored bytes keep both). Returns why, or null.
 *
 * Cheap on the hot path: surrogates are looked for only when the text has an escape, and duplicate keys only when the
 * payload has more colons than the parsed value has keys (each key has one colon, so equal counts prove there is no
 * duplicate and no colon inside a string).
 */
function unsoundJson(payload: Uint8Array, text: string, json: unknown): DecodeProblem | null {
  if (text.includes("\\u") && !wellFormed(json)) return { code: "payload_lone_surrogate", params: {} };
  let colons = 0;
  for (let i = payload.indexOf(COLON); i >= 0; i = payload.indexOf(COLON, i + 1)) colons++;
  if (colons === 0 || colons === countKeys(json)) return null;
  const dup = duplicateKey(text);
  // (the key is cut to 64 characters and kept valid Unicode: it is shown to people)
  return dup === null ? null : { code: "payload_duplicate_key", params: { path: dup.slice(0, 64).toWellFormed() } };
}

function wellFormed(v: unknown): boolean {
  if (typeof v === "string") return v.isWellFormed();
  if (v === null || typeof v !== "object") return true;
  if (Array.isArray(v)) return v.every(wellFormed);
  for (const k in v) if (!k.isWellFormed() || !wellFormed((v as Record<string, unknown>)[k])) return false;
  return true;
}

function countKeys(v: unknown): number {
  if (v === null || typeof v !== "object") return 0;
  let n = 0;
  if (Array.isArray(v)) {
    for (const x of v) n += countKeys(x);
    return n;
  }
  for (const k in v) n += 1 + countKeys((v as Record<string, unknown>)[k]);
  return n;
}

/** The first key that appears twice in one object of a text JSON.parse accepted, or null. */
function duplicateKey(text: string): string | null {
  // A stack of the keys seen in each open object (null for an open array).
  const open: (Set<string> | null)[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = open.at(-1);
      // a string directly followed (after white space) by a colon is a key
      let k = j + 1;
      while (text[k] === " " || text[k] === "\t" || text[k] === "\n" || text[k] === "\r") k++;
      if (top && text[k] === ":") {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) return key;
        top.add(key);
      }
      i = j + 1;
      continue;
    }
    if (ch === "{") open.push(new Set());
    else if (ch === "[") open.push(null);
    else if (ch === "}" || ch === "]") open.pop();
    i++;
  }
  return null;
}

/**
 * Numeric fields of a message as dotted paths (`pv.w`, `hopperKg.urea`); booleans count as 0/1.
 * These are what aggregated queries (min/avg/max/last) work on.
 */
export function numericFields(body: unknown, prefix = "", out: Record<string, number> = {}): Record<string, number> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return out;
  const o = body as Record<string, unknown>;
  for (const key in o) {
    if (!Object.hasOwn(o, key) || (key === "ts" && prefix === "")) continue;
    const value = o[key];
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === "number") out[path] = value;
    else if (typeof value === "boolean") out[path] = value ? 1 : 0;
    else if (value !== null && typeof value === "object" && !Array.isArray(value)) numericFields(value, path, out);
  }
  return out;
}
