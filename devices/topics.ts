import { type DeviceId, FAMILIES, type Family, isDeviceId } from "./ids.js";

/**
 * The one module that builds and parses MQTT topics (PROTOCOL.md "Topics"); nothing else writes a topic by hand.
 *   {family}/{id}/telemetry | batch | status     device → service
 *   streetlight/{id}/ack                          light → service (v1.1: the answer to a command)
 *   {family}/{id}/cmd/{name}                      service → device
 *   stations/{station}/orders/{order}/progress    service → station displays (retained)
 *   alerts/{town or station}/{type}               service → MQTT alert channel subscribers
 */
export const UPLINK_KINDS = { streetlight: ["telemetry", "status", "ack"], blender: ["telemetry", "batch", "status"] } as const;
export type UplinkKind = "telemetry" | "batch" | "status" | "ack";

/** Why a topic is not one a device may publish on, as a code with its figures (the service words it: src/ingest/messages.ts). */
export type TopicProblem =
  | { code: "topic_family"; params: { topic: string } }
  | { code: "topic_device_id"; params: Record<string, never> }
  | { code: "topic_command"; params: Record<string, never> }
  | { code: "topic_kind"; params: { family: Family; topics: readonly string[] } };

export type ParsedTopic =
  | { ok: true; family: Family; deviceId: DeviceId; kind: UplinkKind }
  | { ok: true; family: Family; deviceId: DeviceId; kind: "cmd"; command: string }
  | { ok: false; reason: "bad_topic"; detail: TopicProblem };

/** Command names: lower-case words, e.g. `recipe`, `pause`. */
const COMMAND_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

export function parseTopic(topic: string): ParsedTopic {
  const parts = topic.split("/");
  const [family, id, kind, command] = parts;
  if (family === undefined || !(FAMILIES as readonly string[]).includes(family)) {
    return { ok: false, reason: "bad_topic", detail: { code: "topic_family", params: { topic: topic.slice(0, 80) } } };
  }
  if (id === undefined || !isDeviceId(id)) {
    return { ok: false, reason: "bad_topic", detail: { code: "topic_device_id", params: {} } };
  }
  const fam = family as Family;
  if (kind === "cmd") {
    if (parts.length !== 4 || command === undefined || !COMMAND_PATTERN.test(command)) {
      return { ok: false, reason: "bad_topic", detail: { code: "topic_command", params: {} } };
    }
    return { ok: true, family: fam, deviceId: id, kind: "cmd", command };
  }
  const kinds: readonly string[] = UPLINK_KINDS[fam];
  if (parts.length !== 3 || kind === undefined || !kinds.includes(kind)) {
    return { ok: false, reason: "bad_topic", detail: { code: "topic_kind", params: { family: fam, topics: kinds.map((k) => `${fam}/<id>/${k}`) } } };
  }
  return { ok: true, family: fam, deviceId: id, kind: kind as UplinkKind };
}

export const topics = {
  uplink: (family: Family, id: DeviceId | string, kind: UplinkKind) => `${family}/${id}/${kind}`,
  command: (family: Family, id: DeviceId | string, name: string) => `${family}/${id}/cmd/${name}`,
  /** A light's answers to commands (contract v1.1). */
  ack: (id: DeviceId | string) => `streetlight/${id}/ack`,
  /** What a device may subscribe to: its own commands. */
  commandFilter: (family: Family, id: DeviceId | string) => `${family}/${id}/cmd/#`,
  /** What the service subscribes to on an external broker. */
  serviceFilters: (): string[] => FAMILIES.flatMap((f) => UPLINK_KINDS[f].map((k) => `${f}/+/${k}`)),
  /** `{family}/{id}/` prefix a device may publish under. */
  devicePrefix: (family: Family, id: DeviceId | string) => `${family}/${id}/`,
  /** An order's latest progress, for shop-floor displays (PROTOCOL.md "Station topics"). */
  orderProgress: (station: string, orderId: string) => `stations/${station}/orders/${orderId}/progress`,
  /** Everything published for one station's displays. */
  stationFilter: (station: string) => `stations/${station}/#`,
  /** `stations/{station}/orders/`: the prefix of a station's order topics. */
  stationOrdersPrefix: (station: string) => `stations/${station}/orders/`,
  /** An alert on the MQTT alert channel: by the device's town (or station, for machines), then the alert's type. */
  alert: (place: string | null, type: string) => `alerts/${place ?? "-"}/${type}`,
};
