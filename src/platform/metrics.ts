import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics for GET /metrics. One registry per app, so tests can run several apps in one process. */
export function createMetrics() {
  const registry = new Registry();
  const m = {
    registry,
    accepted: new Counter({
      name: "agrilume_messages_accepted_total",
      help: "Messages durably accepted",
      labelNames: ["family", "kind"],
      registers: [registry],
    }),
    rejected: new Counter({
      name: "agrilume_messages_rejected_total",
      help: "Messages rejected, by reason",
      labelNames: ["family", "reason"],
      registers: [registry],
    }),
    refused: new Counter({
      name: "agrilume_mqtt_refused_total",
      help: "Connections or publishes refused (authentication, topic not the device's own, flooding)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    acceptSeconds: new Histogram({
      name: "agrilume_accept_seconds",
      help: "From receipt to durable accept (write-ahead log fsynced), before the PUBACK",
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    storeWritten: new Counter({
      name: "agrilume_store_written_total",
      help: "Readings written to the telemetry store",
      labelNames: ["measurement"],
      registers: [registry],
    }),
    storeWriteSeconds: new Histogram({
      name: "agrilume_store_write_seconds",
      help: "Duration of one batched store write",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    storeWriteErrors: new Counter({ name: "agrilume_store_write_errors_total", help: "Failed store writes (retried)", registers: [registry] }),
    storeQueueDepth: new Gauge({ name: "agrilume_store_queue_depth", help: "Accepted records waiting for the store", registers: [registry] }),
    storeDropped: new Counter({
      name: "agrilume_store_dropped_total",
      help: "Points the store refused for good (InfluxDB: beyond retention, field type conflict)",
      registers: [registry],
    }),
    spoolRecords: new Gauge({
      name: "agrilume_spool_records",
      help: "Accepted records in the write-ahead log not yet in every store (grows while a store is down)",
      registers: [registry],
    }),
    spoolBytes: new Gauge({
      name: "agrilume_spool_bytes",
      help: "Bytes of accepted records in the write-ahead log not yet in every store (bounded by AGRILUME_SPOOL_MAX_MB)",
      registers: [registry],
    }),
    walBytes: new Gauge({
      name: "agrilume_wal_bytes",
      help: "Size of the write-ahead log on disk (a segment is deleted once every store holds all of it)",
      registers: [registry],
    }),
    storeSetAside: new Counter({
      name: "agrilume_store_set_aside_total",
      help: "Records a store refused on their own (their neighbours were stored), kept in set-aside/<sink>.jsonl in the data dir",
      labelNames: ["sink"] as const,
      registers: [registry],
    }),
    walCorruptRecords: new Counter({
      name: "agrilume_wal_corrupt_records_total",
      help: "Lines of the write-ahead log that are not records (damage, not a torn write), skipped on replay",
      registers: [registry],
    }),
    alertDeliveries: new Counter({
      name: "agrilume_alert_deliveries_total",
      help: "Alert deliveries by channel type and outcome (failed attempts are retried)",
      labelNames: ["channel", "outcome"],
      registers: [registry],
    }),
    ingestActive: new Gauge({
      name: "agrilume_ingest_active",
      help: "1 while this instance holds the ingest lease and takes readings from the broker (AGRILUME_INGEST_FAILOVER=lease), 0 while it stands by",
      registers: [registry],
    }),
    brokerDropped: new Gauge({
      name: "agrilume_broker_dropped_messages",
      help: "Messages the external broker says it dropped since it started (Mosquitto's $SYS/broker/publish/messages/dropped): a queue that overflowed loses readings the broker acknowledged",
      registers: [registry],
    }),
    connected: new Gauge({ name: "agrilume_devices_connected", help: "Devices with an open MQTT connection", registers: [registry] }),
    online: new Gauge({
      name: "agrilume_devices_online",
      help: "Devices online (connection, status and inactivity)",
      labelNames: ["family"],
      registers: [registry],
    }),
    registered: new Gauge({ name: "agrilume_devices_registered", help: "Registered devices", labelNames: ["family"], registers: [registry] }),
    gcPauseSeconds: new Histogram({
      name: "agrilume_gc_pause_seconds",
      help: "Garbage collections of the process's main thread (the one that sends PUBACKs), by kind: while one runs, nothing on that thread does (observeGc)",
      labelNames: ["kind"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
      registers: [registry],
    }),
  };
  return m;
}
export type Metrics = ReturnType<typeof createMetrics>;

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weak_callbacks",
};

/**
 * Records each garbage collection of the main thread in `gcPauseSeconds` (the process's, so several apps in one test
 * process each see all of them). A stall of PUBACKs that the accept histogram does not explain is often one of these:
 * docs/BENCHMARKS.md. Returns the function that stops it.
 */
export function observeGc(metrics: Metrics): () => void {
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      metrics.gcPauseSeconds.labels(GC_KINDS[kind ?? -1] ?? "other").observe(e.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  return () => observer.disconnect();
}
