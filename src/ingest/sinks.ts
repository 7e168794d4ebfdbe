import type { RejectRecord, StateStore } from "../store/state-store.js";
import type { StoredReading, TelemetryStore } from "../store/telemetry-store.js";
import type { Sink } from "./store-writer.js";

/** Readings to the telemetry store. */
export function telemetrySink(store: TelemetryStore): Sink {
  return {
    name: "telemetry",
    accepts: (r) => r.kind === "reading",
    checkpoint: () => store.checkpoint(),
    write: (records, checkpoint) =>
      store.write(
        records.flatMap((r): StoredReading[] => (r.kind === "reading" ? [{ ...r.reading, seq: r.seq }] : [])),
        checkpoint,
      ),
  };
}

/** Rejected messages to the state store, kept for inspection. */
export function rejectSink(state: StateStore): Sink {
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
