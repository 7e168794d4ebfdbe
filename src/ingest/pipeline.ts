import { EventEmitter } from "node:events";
import { type DecodedMessage, decodePayload, type Family, parseTopic, type RejectReason } from "../../devices/index.js";
import type { Registry } from "../devices/registry.js";
import type { DeviceRecord } from "../store/state-store.js";
import type { StoredReading } from "../store/telemetry-store.js";
import type { Metrics } from "../system/metrics.js";
import type { InboundMessage, Verdict } from "./message.js";
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
}) {
  const { registry, wal, writer, presence, metrics } = deps;
  const events = new EventEmitter<{ reading: [AcceptedReading] }>();
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
  /** Metric children by measurement: prom-client hashes the label object on every call otherwise. */
  const acceptedBy = new Map<string, { inc: () => void }>();
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

  async function reject(
    msg: InboundMessage,
    device: DeviceRecord | null,
    family: Family | "unknown",
    reason: RejectReason,
    detail: string,
  ): Promise<Verdict> {
    metrics.rejected.inc({ family, reason });
    const deviceId = device?.id ?? null;
    if (deviceId !== null) {
      presence.seen(deviceId, msg.receivedAt);
      if (overLimit(deviceId, msg.receivedAt)) {
        metrics.refused.inc({ reason: "throttled" });
        return { outcome: "refused", reason: "throttled" };
      }
    }
    const kept = msg.payload.subarray(0, KEPT_PAYLOAD_BYTES);
    const text = Buffer.from(kept).toString("utf8");
    const isText = Buffer.from(text, "utf8").equals(kept);
    const record = await wal.append({
      kind: "reject",
      reject: {
        deviceId,
        clientId: msg.clientId,
        topic: msg.topic.slice(0, 256),
        reason,
        detail: detail.slice(0, 1000),
        payload: isText ? text : kept.toString("base64"),
        payloadEncoding: isText ? "utf8" : "base64",
        payloadBytes: msg.payload.byteLength,
        receivedAt: msg.receivedAt,
      },
    });
    writer.push(record);
    return { outcome: "rejected", seq: record.seq, reason, detail };
  }

  async function ingest(msg: InboundMessage): Promise<Verdict> {
    if (deps.spoolMaxBytes !== undefined && wal.bytes() > deps.spoolMaxBytes) {
      // The store has been down long enough to fill the spool: the device keeps the message and sends it again.
      metrics.refused.inc({ reason: "spool_full" });
      return { outcome: "refused", reason: "spool_full" };
    }
    const topic = msg.parsedTopic ?? parseTopic(msg.topic);
    const claimedId = topic.ok ? topic.deviceId : msg.topic.split("/")[1];
    if (msg.authenticatedAs !== null && claimedId !== msg.authenticatedAs) {
      // [security] a device publishes only under its own {family}/{id}/
      metrics.refused.inc({ reason: "not_own_topic" });
      return { outcome: "refused", reason: "not_own_topic" };
    }
    const device = claimedId !== undefined ? (registry.get(claimedId) ?? null) : null;
    if (msg.authenticatedAs !== null && device && !msg.topic.startsWith(`${device.family}/${device.id}/`)) {
      metrics.refused.inc({ reason: "not_own_topic" });
      return { outcome: "refused", reason: "not_own_topic" };
    }
    if (!topic.ok) return reject(msg, device, device?.family ?? "unknown", "bad_topic", topic.detail);
    if (topic.kind === "cmd") return reject(msg, device, topic.family, "bad_topic", "devices do not publish on cmd/ topics");
    if (!device) return reject(msg, null, topic.family, "unknown_device", `no device ${topic.deviceId} is registered`);
    if (device.family !== topic.family) {
      return reject(msg, device, topic.family, "wrong_family", `${device.id} is registered as ${device.family}`);
    }
    if (device.disabled) return reject(msg, device, device.family, "disabled", `${device.id} is disabled`);

    const decoded = decodePayload(topic.family, topic.kind, msg.payload, msg.receivedAt, deps.maxPayloadBytes);
    if (!decoded.ok) return reject(msg, device, device.family, decoded.reason, decoded.detail);

    const measurement = `${topic.family}_${topic.kind}`;
    const payload = decoded.message.body as Record<string, unknown>;
    const record = await wal.append(
      {
        kind: "reading",
        reading: {
          measurement,
          deviceId: device.id,
          ts: decoded.ts,
          receivedAt: msg.receivedAt,
          tags: tags(device),
          payload,
        },
      },
      decoded.json,
    );
    // Durable from here on: acknowledge, then fan out.
    let counter = acceptedBy.get(measurement);
    if (!counter) {
      counter = metrics.accepted.labels(topic.family, topic.kind);
      acceptedBy.set(measurement, counter);
    }
    counter.inc();
    metrics.acceptSeconds.observe((Date.now() - msg.receivedAt) / 1000);
    writer.push(record);
    presence.seen(device.id, msg.receivedAt);
    if (decoded.message.kind === "status") {
      presence.status(device.id, decoded.message.body.online, msg.receivedAt, decoded.message.body.fw);
    }
    let perDevice = latest.get(device.id);
    if (!perDevice) {
      perDevice = new Map();
      latest.set(device.id, perDevice);
    }
    const prev = perDevice.get(measurement);
    if (!prev) perDevice.set(measurement, { ts: decoded.ts, receivedAt: msg.receivedAt, payload });
    else if (prev.ts <= decoded.ts) {
      prev.ts = decoded.ts;
      prev.receivedAt = msg.receivedAt;
      prev.payload = payload;
    }
    events.emit("reading", { seq: record.seq, device, message: decoded.message, ts: decoded.ts, receivedAt: msg.receivedAt });
    return { outcome: "accepted", seq: record.seq };
  }

  return {
    ingest,
    events,
    /** Latest message per measurement since start; older ones come from the telemetry store. */
    latest: (deviceId: string) => latest.get(deviceId),
    forgetLimits: (deviceId: string) => rejectWindows.delete(deviceId),
  };
}
export type Pipeline = ReturnType<typeof createPipeline>;
