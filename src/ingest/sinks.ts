import { type StoredReading, type TelemetryStore, timeSpans } from "../storage/telemetry-store.js";
import type { RejectRecord, RejectStore } from "./rejects.js";
import type { Sink } from "./store-writer.js";

/**
 * Readings to the telemetry store. `logLines` gives the write-ahead log's own lines for a range of records when it still
 * has them in memory; a store that can read those (`writeLines`) is given them instead of the records.
 */
export function telemetrySink(store: TelemetryStore, logLines?: (from: number, to: number) => Uint8Array | null): Sink {
  return {
    name: "telemetry",
    accepts: (r) => r.kind === "reading",
    readsLogLines: store.writeLines !== undefined && logLines !== undefined,
    checkpoint: () => store.checkpoint(),
    write: (records, checkpoint) => {
      const first = records[0];
      const last = records.at(-1);
      const lines = first && last && store.writeLines ? logLines?.(first.seq, last.seq) : null;
      if (lines && first && last && store.writeLines) {
        const ts: number[] = [];
        for (const r of records) if (r.kind === "reading") ts.push(r.reading.ts);
        return store.writeLines(lines, { fromSeq: first.seq, toSeq: last.seq, spans: timeSpans(ts) }, checkpoint);
      }
      // (a loop and a literal of the fields: an array and a spread per reading showed in profiles of the ingest pass)
      const readings: StoredReading[] = [];
      for (const r of records) {
        if (r.kind !== "reading") continue;
        const x = r.reading;
        readings.push({
          seq: r.seq,
          measurement: x.measurement,
          deviceId: x.deviceId,
          ts: x.ts,
          receivedAt: x.receivedAt,
          tags: x.tags,
          payload: x.payload,
        });
      }
      return store.write(readings, checkpoint);
    },
  };
}

/** Rejected messages to the state store, kept for inspection. */
export function rejectSink(state: RejectStore): Sink {
  return {
    name: "rejects",
    accepts: (r) => r.kind === "reject",
    checkpoint: () => state.rejectCheckpoint(),
    write: (records, checkpoint) =>
      state.writeRejects(
        records.flatMap((r): RejectRecord[] => (r.kind === "reject" ? [{ ...r.reject, seq: r.seq }] : [])),
        checkpoint,
      ),
  };
}
