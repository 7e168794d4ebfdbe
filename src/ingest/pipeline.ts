import { EventEmitter } from "node:events";
import { type DecodedMessage, decodePayload, type Family, parseTopic, type RejectReason } from "../../devices/index.js";
import type { Logger } from "../platform/log.js";
import type { Metrics } from "../platform/metrics.js";
import type { Registry } from "../registry/registry.js";
import type { DeviceRecord } from "../registry/store.js";
import type { StoredReading } from "../storage/telemetry-store.js";
import type { InboundMessage, Verdict, VerdictCallback } from "./message.js";
import { type IngestMessage, ingestMessage, rejectDetail } from "./messages.js";
import type { Presence } from "./presence.js";
import type { StoreWriter } from "./store-writer.js";
import type { Wal } from "./wal.js";

/** A reading that is durably accepted, as the domain monitors of later issues receive it. */
export type AcceptedReading = { seq: number; device: DeviceRecord; message: DecodedMessage; ts: number; receivedAt: number };
export type LatestEntry = { ts: number; receivedAt: number; payload: Record<string, unknown> };

/** Kept of a rejected payload for inspection; the byte count is kept whole. */
const KEPT_PAYLOAD_BYTES = 4096;

/**
 * source → decode and validate → enrich from the registry → durable accept → fan-out
 * (telemetry store, latest state, presence, monitors). Bad input is data: nothing here throws
 * because of what a device sent.
 */
export function createPipeline(deps: {
  registry: Registry;
  wal: Wal;
  writer: StoreWriter;
  presence: Presence;
  metrics: Metrics;
  maxPayloadBytes: number;
  rejectLimitPerMinute: number;
  /** The write-ahead log may hold at most this much not yet stored; beyond it nothing is acknowledged. */
  spoolMaxBytes?: number;
  log?: Logger;
}) {
  const { registry, wal, writer, presence, metrics } = deps;
  const events = new EventEmitter<{ reading: [AcceptedReading] }>();
  /** Latest message per device and measurement: bounded by the registry (only registered devices get here) × the contract's kinds. */
  const latest = new Map<string, Map<string, LatestEntry>>();
  /** A device's store tags, one object per device record (a record is replaced when the device changes). */
  const tagsOf = new WeakMap<DeviceRecord, StoredReading["tags"]>();
  const tags = (d: DeviceRecord) => {
    let t = tagsOf.get(d);
    if (!t) {
      t = { town: d.town ?? undefined, village: d.village ?? undefined, station: d.station ?? undefined };
      tagsOf.set(d, t);
    }
    return t;
  };
  /** One per registered device that sent a rejected message (unknown ids are not counted): bounded by the registry. */
  const rejectWindows = new Map<string, { start: number; n: number }>();

  /** True once a device has sent more rejected messages in a minute than it may. */
  const overLimit = (deviceId: string, now: number): boolean => {
    const w = rejectWindows.get(deviceId);
    if (!w || now - w.start >= 60_000) {
      rejectWindows.set(deviceId, { start: now, n: 1 });
      return false;
    }
    w.n++;
    return w.n > deps.rejectLimitPerMinute;
  };

  function reject(
    msg: InboundMessage,
    device: DeviceRecord | null,
    family: Family | "unknown",
    reason: RejectReason,
    detail: IngestMessage,
    done: VerdictCallback,
  ) {
    metrics.rejected.inc({ family, reason });
    const deviceId = device?.id ?? null;
    if (deviceId !== null) {
      presence.seen(deviceId, msg.receivedAt);
      if (overLimit(deviceId, msg.receivedAt)) {
        metrics.refused.inc({ reason: "throttled" });
        return done(undefined, { outcome: "refused", reason: "throttled" });
      }
    }
    const kept = msg.payload.subarray(0, KEPT_PAYLOAD_BYTES);
    const text = Buffer.from(kept).toString("utf8");
    const isText = Buffer.from(text, "utf8").equals(kept);
    const record = wal.write(
      {
        kind: "reject",
        reject: {
          deviceId,
          clientId: msg.clientId,
          topic: msg.topic.slice(0, 256),
          reason,
          detail,
          payload: isText ? text : kept.toString("base64"),
          payloadEncoding: isText ? "utf8" : "base64",
          payloadBytes: msg.payload.byteLength,
          receivedAt: msg.receivedAt,
        },
      },
      undefined,
      (error) => {
        if (error !== undefined) return done(error);
        writer.push(record);
        done(undefined, { outcome: "rejected", seq: record.seq, reason, detail });
      },
    );
  }

  /** Measurement names and their accepted counters, per family and kind (a name made per message is garbage). */
  const kinds = new Map<Family, Map<string, { measurement: string; accepted: { inc: () => void } }>>();
  const kindOf = (family: Family, kind: string) => {
    let byKind = kinds.get(family);
    if (!byKind) {
      byKind = new Map();
      kinds.set(family, byKind);
    }
    let k = byKind.get(kind);
    if (!k) {
      // (a child counter: prom-client hashes the label object on every call otherwise)
      k = { measurement: `${family}_${kind}`, accepted: metrics.accepted.labels(family, kind) };
      byKind.set(kind, k);
    }
    return k;
  };

  /**
   * The message's verdict to `done`: accepted and rejected messages once durably recorded, refused ones at once. Callbacks,
   * not promises, on this path: it runs for every message (docs/BENCHMARKS.md).
   */
  function receive(msg: InboundMessage, done: VerdictCallback) {
    if (deps.spoolMaxBytes !== undefined && wal.unstoredBytes() > deps.spoolMaxBytes) {
      // The store has been down long enough to fill the spool: the device keeps the message and sends it again.
      metrics.refused.inc({ reason: "spool_full" });
      return done(undefined, { outcome: "refused", reason: "spool_full" });
    }
    const topic = msg.parsedTopic ?? parseTopic(msg.topic);
    const claimedId = topic.ok ? topic.deviceId : msg.topic.split("/")[1];
    if (msg.authenticatedAs !== null && claimedId !== msg.authenticatedAs) {
      // [security] a device publishes only under its own {family}/{id}/
      metrics.refused.inc({ reason: "not_own_topic" });
      return done(undefined, { outcome: "refused", reason: "not_own_topic" });
    }
    const device = claimedId !== undefined ? (registry.get(claimedId) ?? null) : null;
    if (msg.authenticatedAs !== null && device && !msg.topic.startsWith(`${device.family}/${device.id}/`)) {
      metrics.refused.inc({ reason: "not_own_topic" });
      return done(undefined, { outcome: "refused", reason: "not_own_topic" });
    }
    if (!topic.ok) return reject(msg, device, device?.family ?? "unknown", "bad_topic", rejectDetail(topic.detail), done);
    if (topic.kind === "cmd") return reject(msg, device, topic.family, "bad_topic", ingestMessage("cmd_topic", {}), done);
    if (!device) return reject(msg, null, topic.family, "unknown_device", ingestMessage("device_unknown", { deviceId: topic.deviceId }), done);
    if (device.family !== topic.family) {
      return reject(msg, device, topic.family, "wrong_family", ingestMessage("device_family", { deviceId: device.id, family: device.family }), done);
    }
    if (device.disabled) return reject(msg, device, device.family, "disabled", ingestMessage("device_disabled", { deviceId: device.id }), done);

    let decoded: ReturnType<typeof decodePayload>;
    try {
      decoded = decodePayload(topic.family, topic.kind, msg.payload, msg.receivedAt, deps.maxPayloadBytes);
    } catch (e: unknown) {
      // The decoder never throws by design; if some payload still makes it, that payload is refused and kept like any
      // bad one (left unacknowledged, the device would send it again forever).
      deps.log?.warn({ err: e, deviceId: device.id, topic: msg.topic }, "the decoder failed on a payload; refused as invalid");
      return reject(msg, device, device.family, "invalid", ingestMessage("payload_unreadable", {}), done);
    }
    if (!decoded.ok) return reject(msg, device, device.family, decoded.reason, rejectDetail(decoded.detail), done);

    const kind = kindOf(topic.family, topic.kind);
    const payload = decoded.message.body as Record<string, unknown>;
    const record = wal.write(
      {
        kind: "reading",
        reading: { measurement: kind.measurement, deviceId: device.id, ts: decoded.ts, receivedAt: msg.receivedAt, tags: tags(device), payload },
      },
      decoded.ownJson ? msg.payload : undefined,
      (error) => {
        if (error !== undefined) return done(error);
        // Durable from here on: acknowledge, then fan out.
        kind.accepted.inc();
        metrics.acceptSeconds.observe((Date.now() - msg.receivedAt) / 1000);
        writer.push(record);
        try {
          fanOut(device, kind.measurement, decoded.message, decoded.ts, msg.receivedAt, record.seq);
        } finally {
          done(undefined, { outcome: "accepted", seq: record.seq }); // durable whatever a monitor did with it
        }
      },
    );
  }

  function fanOut(device: DeviceRecord, measurement: string, message: DecodedMessage, ts: number, receivedAt: number, seq: number) {
    presence.seen(device.id, receivedAt);
    if (message.kind === "status") presence.status(device.id, message.body.online, receivedAt, message.body.fw);
    let perDevice = latest.get(device.id);
    if (!perDevice) {
      perDevice = new Map();
      latest.set(device.id, perDevice);
    }
    const payload = message.body as Record<string, unknown>;
    const prev = perDevice.get(measurement);
    if (!prev) perDevice.set(measurement, { ts, receivedAt, payload });
    else if (prev.ts <= ts) {
      prev.ts = ts;
      prev.receivedAt = receivedAt;
      prev.payload = payload;
    }
    events.emit("reading", { seq, device, message, ts, receivedAt });
  }

  /** `receive` as a promise of the verdict. */
  const ingest = (msg: InboundMessage): Promise<Verdict> =>
    new Promise((resolve, reject) => receive(msg, (error, verdict) => (error === undefined && verdict ? resolve(verdict) : reject(error))));

  return {
    ingest,
    receive,
    events,
    /** Latest message per measurement since start; older ones come from the telemetry store. */
    latest: (deviceId: string) => latest.get(deviceId),
    forgetLimits: (deviceId: string) => rejectWindows.delete(deviceId),
  };
}
export type Pipeline = ReturnType<typeof createPipeline>;
