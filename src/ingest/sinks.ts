import type { StoredReading, TelemetryStore } from "../storage/telemetry-store.js";
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
    checkpoint: () => store.checkpoint(),
    write: (records, checkpoint) => {
      const first = records[0];
      const last = records.at(-1);
      const lines = first && last && store.writeLines ? logLines?.(first.seq, last.seq) : null;
      if (lines && first && last && store.writeLines) {
        let minTs = Number.POSITIVE_INFINITY;
        let maxTs = 0;
        for (const r of records) {
          if (r.kind !== "reading") continue;
          if (r.reading.ts < minTs) minTs = r.reading.ts;
          if (r.reading.ts > maxTs) maxTs = r.reading.ts;
        }
        return store.writeLines(lines, { fromSeq: first.seq, toSeq: last.seq, minTs, maxTs }, checkpoint);
      }
      return store.write(
        records.flatMap((r): StoredReading[] => (r.kind === "reading" ? [{ ...r.reading, seq: r.seq }] : [])),
        checkpoint,
      );
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
