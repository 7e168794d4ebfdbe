import type { DashboardPoint } from "./dashboard-points.js";

/**
 * The fields of a streetlight reading that the rollups keep, per hour and per day (duckdb-fields.ts says why these): past
 * the raw retention an aggregate has these only, so a town's aggregates answer them by default on every store, the same
 * over any range.
 */
export { DAILY_FIELDS, HOURLY_FIELDS, STREETLIGHT_FIELDS } from "./duckdb-fields.js";

/**
 * The telemetry store interface. Every implementation passes test/store-contract.ts.
 * Writes are idempotent: a reading is identified by (measurement, deviceId, ts), so a device's
 * retransmission or a write-ahead-log replay stores it once.
 */
export type StoredReading = {
  /** Write-ahead-log sequence number; unique and increasing. */
  seq: number;
  /** `${family}_${kind}`, e.g. streetlight_telemetry. */
  measurement: string;
  deviceId: string;
  ts: number;
  receivedAt: number;
  tags: { town?: string | undefined; village?: string | undefined; station?: string | undefined };
  /** The validated message as the device sent it (ts normalised to epoch ms). Each store derives from it the numeric
   * fields that aggregation works on (`numericFields`: dotted paths, booleans as 0/1); they are not carried in the
   * write-ahead log (they doubled its size and its cost per message: docs/BENCHMARKS.md). */
  payload: Record<string, unknown>;
};

export type Every = "minute" | "hour" | "day";

export type RawRow = { ts: number; receivedAt: number; measurement: string; payload: Record<string, unknown> };
export type AggRow = { ts: number; field: string; min: number; avg: number; max: number; last: number; count: number };
/** An aggregate row as its parts, of device `deviceId`. */
export type AggVisit = (deviceId: string, ts: number, field: string, min: number, avg: number, max: number, last: number, count: number) => void;

export type RawQuery = { deviceId: string; measurement?: string | undefined; from: number; to: number; limit: number };
export type AggQuery = { deviceId: string; measurement: string; from: number; to: number; every: Every; fields?: string[] | undefined };

export interface TelemetryStore {
  readonly kind: string;
  /** Stores the batch and records `checkpoint` (the batch's highest seq) with it; idempotent. */
  write(batch: StoredReading[], checkpoint: number): Promise<void>;
  /**
   * Optional, the same as `write` from the write-ahead log's own bytes: the readings with seq in `range` among `lines`
   * (UTF-8 JSON lines as the log wrote them; other records, and seqs outside the range, are ignored), whose timestamps lie
   * within `spans` (`timeSpans` of them). Spares serialising every reading a second time on the service's one thread.
   */
  writeLines?(lines: Uint8Array, range: { fromSeq: number; toSeq: number; spans: TimeSpan[] }, checkpoint: number): Promise<void>;
  /** The highest seq known to be stored. */
  checkpoint(): Promise<number>;
  raw(q: RawQuery): Promise<RawRow[]>;
  /** Raw rows of many devices at once (for jobs over a fleet), by device. */
  rawMany(q: { deviceIds: string[]; measurement: string; from: number; to: number }): Promise<Map<string, RawRow[]>>;
  aggregate(q: AggQuery): Promise<AggRow[]>;
  /** The same for many devices at once (a town's lights for a chart or a report), by device; devices with none are left out. */
  aggregateMany(q: Omit<AggQuery, "deviceId"> & { deviceIds: string[] }): Promise<Map<string, AggRow[]>>;
  /**
   * The same rows handed to `visit` one at a time as they are read, each device's together, with no object made per row:
   * what a town's month (~200,000 rows) is answered from (GET /api/v1/telemetry/aggregate).
   */
  eachAggregate(q: Omit<AggQuery, "deviceId"> & { deviceIds: string[] }, visit: AggVisit): Promise<void>;
  latest(deviceId: string, measurement: string): Promise<RawRow | undefined>;
  count(q: { deviceId?: string; measurement?: string }): Promise<number>;
  /**
   * Optional: the store's own retention, run by the service's scheduler (the embedded store: readings past the raw
   * retention folded into hourly and daily rollups, then deleted; rollups past theirs deleted; in small steps). A store
   * that keeps its retention itself (InfluxDB's retention policies and continuous query) has none. `signal` stops a run
   * between two steps (the service stopping).
   */
  applyRetention?(now: number, signal?: AbortSignal): Promise<RetentionResult>;
  /**
   * Optional: the embedded store's live rollups (docs/DATA.md), run by the service's scheduler every few minutes: the
   * hours that closed since the last run, and readings stored late for hours rolled up already, added to the hourly and
   * daily rollups, in small steps off the write path. `signal` stops a run between two steps.
   */
  rollUp?(now: number, signal?: AbortSignal): Promise<{ hours: number; late: number; steps: number }>;
  /** Optional: settles when the rollups of late readings written so far are made (InfluxDB makes them after the write). */
  settleRollups?(): Promise<void>;
  /** Points the service derives for dashboards (src/storage/dashboard-points.ts); best effort, not replayed. */
  writeDashboardPoints(points: DashboardPoint[]): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What one retention run did. */
export type RetentionResult = { rolledUp: number; prunedHourly: number; prunedDaily: number; prunedDerived: number; steps: number };

export const EVERY_MS: Record<Every, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** A closed range of timestamps (epoch ms). */
export type TimeSpan = readonly [from: number, to: number];
/** Readings further apart than this start a new span. */
const SPAN_GAP_MS = 3_600_000;
/** At most this many spans a batch (the closest are merged past it). */
const MAX_SPANS = 16;

/**
 * The time spans a batch's readings fall in, for a store that looks for readings it holds already: a live batch is one
 * span of seconds; the same batch with one reading buffered 13 days ago is two spans, not 13 days of rows to read
 * (issue 19). Readings within an hour of each other share a span; more than 16 spans merge where they are closest.
 */
export function timeSpans(ts: Iterable<number>): TimeSpan[] {
  const sorted = Float64Array.from(ts).sort();
  const spans: [number, number][] = [];
  for (const t of sorted) {
    const last = spans.at(-1);
    if (last && t - last[1] <= SPAN_GAP_MS) last[1] = t;
    else spans.push([t, t]);
  }
  while (spans.length > MAX_SPANS) {
    let at = 0;
    for (let i = 1; i < spans.length - 1; i++)
      if ((spans[i + 1]?.[0] ?? 0) - (spans[i]?.[1] ?? 0) < (spans[at + 1]?.[0] ?? 0) - (spans[at]?.[1] ?? 0)) at = i;
    const [a, b] = [spans[at], spans[at + 1]];
    if (a && b) spans.splice(at, 2, [a[0], b[1]]);
  }
  return spans;
}
