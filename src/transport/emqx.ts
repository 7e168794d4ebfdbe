import { createHash, timingSafeEqual } from "node:crypto";
import { FAMILIES, type Family, isDeviceId, topics, UPLINK_KINDS } from "../../devices/index.js";
import type { Logger } from "../platform/log.js";
import type { Registry } from "../registry/registry.js";
import { createBuckets, createGate } from "./auth-limiter.js";
import { BROKER_DROPPED_TOPIC } from "./external-broker.js";

/**
 * EMQX 5 asks Agrilume who may connect and what each client may do (its HTTP authenticator and HTTP authorizer,
 * docs/brokers/emqx.conf), and Agrilume tells EMQX to drop a device it disabled or gave a new secret (EMQX's REST API).
 *
 * Authentication: a device's client id must be its username, its device id (one device's credentials cannot take over
 * another's session), its secret must be the registry's and the device enabled; the service's own account is checked
 * against AGRILUME_MQTT_USERNAME / _PASSWORD (any client id: several instances share the load). Nobody is a superuser.
 * Authorisation: a device publishes only its own uplink topics and subscribes only to its own commands; the service
 * subscribes to every uplink (plain or through `$share/{group}/`) and the broker's drop counter, and publishes
 * commands, alerts and station topics. Anything else is denied.
 */
export type EmqxAuthnRequest = { clientid: string; username: string; password: string; peerhost?: string | undefined };
export type EmqxAuthzRequest = { clientid: string; username: string; action: "publish" | "subscribe" | "all"; topic: string };
export type EmqxResult = { result: "allow" | "deny"; is_superuser: false };
/** Why a request was denied, for the log and the tests (EMQX itself is told only allow or deny). */
export type EmqxDenial =
  | "service_secret"
  | "client_id_mismatch"
  | "unknown_device"
  | "bad_secret"
  | "disabled"
  | "throttled"
  | "topic_not_allowed"
  | "not_a_client";

/** Failed secret checks one address may cause per minute, as the embedded broker's AGRILUME_AUTH_PER_SOURCE_PER_MIN. */
const SLOW_CHECKS = { concurrent: 16, queue: 20_000 };

const digest = (s: string) => createHash("sha256").update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/** The topic a `$share/{group}/{filter}` subscription is for. */
const unshared = (topic: string) => (topic.startsWith("$share/") ? topic.split("/").slice(2).join("/") : topic);

/** True when an MQTT filter `filter` covers only topics `allowed` (another filter) covers: `allowed` ends in `/#`. */
function within(filter: string, prefix: string): boolean {
  return filter.startsWith(prefix) && filter.length > prefix.length;
}

export function serviceMayDo(action: EmqxAuthzRequest["action"], topic: string): boolean {
  const t = unshared(topic);
  if (action === "subscribe") {
    if (t === BROKER_DROPPED_TOPIC) return true;
    // every device's uplinks (`streetlight/+/telemetry`, …): the family, then anything
    return FAMILIES.some(
      (f) =>
        within(t, `${f}/`) &&
        !t
          .split("/")
          .slice(2)
          .some((l) => l === "cmd"),
    );
  }
  if (action === "publish") {
    const parts = t.split("/");
    if (parts.some((p) => p === "+" || p === "#")) return false;
    if (parts[0] === "alerts" || parts[0] === "stations") return parts.length > 1;
    // a device's command: {family}/{id}/cmd/{name}
    return parts.length === 4 && (FAMILIES as readonly string[]).includes(parts[0] ?? "") && isDeviceId(parts[1] ?? "") && parts[2] === "cmd";
  }
  return false;
}

export function deviceMayDo(family: Family, id: string, action: EmqxAuthzRequest["action"], topic: string): boolean {
  if (action === "publish") return (UPLINK_KINDS[family] as readonly string[]).some((k) => topic === topics.uplink(family, id, k as never));
  if (action === "subscribe") {
    const own = topics.commandFilter(family, id); // {family}/{id}/cmd/#
    return topic === own || within(topic, own.slice(0, -1));
  }
  return false;
}

export function createEmqxAuth(deps: {
  registry: Registry;
  service: { username: string; password: string } | undefined;
  failedChecksPerSourcePerMinute: number;
  log: Logger;
}) {
  const { registry, service, log } = deps;
  const budget = createBuckets({ perMinute: deps.failedChecksPerSourcePerMinute });
  const gate = createGate(SLOW_CHECKS);
  const allow: EmqxResult = { result: "allow", is_superuser: false };
  const deny = (why: EmqxDenial, fields: Record<string, unknown>): EmqxResult & { why: EmqxDenial } => {
    log.debug({ ...fields, why }, "emqx: denied");
    return { result: "deny", is_superuser: false, why };
  };

  return {
    async authenticate(r: EmqxAuthnRequest): Promise<EmqxResult & { why?: EmqxDenial }> {
      if (service && r.username === service.username) {
        return sameSecret(r.password, service.password) ? allow : deny("service_secret", { username: r.username });
      }
      if (r.clientid !== r.username) return deny("client_id_mismatch", { clientid: r.clientid, username: r.username });
      const slow = !registry.provedBefore(r.username, r.password);
      const source = r.peerhost ?? "unknown";
      if (slow && !budget.take(source)) return deny("throttled", { peerhost: source });
      const result = slow ? await gate.run(() => registry.authenticate(r.username, r.password)) : await registry.authenticate(r.username, r.password);
      if (slow && (result === null || result.ok)) budget.give(source);
      if (result === null) return deny("throttled", { peerhost: source });
      if (!result.ok) return deny(result.reason, { username: r.username });
      return allow;
    },
    authorize(r: EmqxAuthzRequest): EmqxResult & { why?: EmqxDenial } {
      if (service && r.username === service.username) {
        return serviceMayDo(r.action, r.topic) ? allow : deny("topic_not_allowed", { username: r.username, action: r.action, topic: r.topic });
      }
      // (authenticated by us, so the client id is the username: checked again, a session from before cannot slip by)
      const d = r.clientid === r.username ? registry.get(r.username) : undefined;
      if (!d || d.disabled) return deny("not_a_client", { clientid: r.clientid, username: r.username });
      return deviceMayDo(d.family, d.id, r.action, r.topic)
        ? allow
        : deny("topic_not_allowed", { username: r.username, action: r.action, topic: r.topic });
    },
  };
}
export type EmqxAuth = ReturnType<typeof createEmqxAuth>;

/**
 * Disconnects, through EMQX's REST API (`DELETE /api/v5/clients/{clientid}`, basic auth with an API key and its
 * secret), each device the registry disables or gives a new secret: its next CONNECT then meets the authenticator.
 * A client not connected (404) is fine; any other failure is logged and tried again a few times.
 */
export function createEmqxDisconnector(deps: {
  api: { url: string; key: string; secret: string };
  registry: Registry;
  log: Logger;
  fetch?: typeof fetch;
}) {
  const { api, registry, log } = deps;
  const doFetch = deps.fetch ?? fetch;
  const auth = `Basic ${Buffer.from(`${api.key}:${api.secret}`).toString("base64")}`;
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const kick = async (clientId: string, attempt = 0): Promise<void> => {
    if (stopped) return;
    try {
      const res = await doFetch(`${api.url}/api/v5/clients/${encodeURIComponent(clientId)}`, {
        method: "DELETE",
        headers: { authorization: auth },
        signal: AbortSignal.timeout(10_000),
      });
      if (res.status === 204 || res.status === 200 || res.status === 404) return;
      throw new Error(`EMQX answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    } catch (e) {
      if (attempt >= 4) {
        log.error({ err: e, clientId }, "emqx: could not disconnect a disabled or rotated device; it stays connected until it reconnects");
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(
          () => {
            timers.delete(t);
            resolve();
          },
          1000 * 2 ** attempt,
        );
        timers.add(t);
      });
      return kick(clientId, attempt + 1);
    }
  };
  const unsubscribe = registry.onChange((change) => {
    if (change.kind !== "disabled" && change.kind !== "rotated") return;
    for (const id of change.ids) kick(id).catch((e: unknown) => log.error({ err: e, clientId: id }, "emqx: disconnect failed"));
  });
  return {
    kick,
    stop() {
      stopped = true;
      unsubscribe();
      for (const t of timers) clearTimeout(t);
    },
  };
}

/**
 * An external EMQX's own count of messages it dropped on their way to a subscriber (`delivery.dropped`: a session's
 * queue full, a message too large or expired; the service's session among them), read from its REST API
 * (`GET /api/v5/metrics?aggregate=true`, the same API key as the disconnects) every `everyMs`: EMQX's equivalent of
 * Mosquitto's `$SYS/broker/publish/messages/dropped` (PROTOCOL.md §7). A failed read is logged once until one succeeds.
 */
export function createEmqxDropWatch(deps: {
  api: { url: string; key: string; secret: string };
  everyMs: number;
  onCount: (dropped: number) => void;
  log: Logger;
  fetch?: typeof fetch;
}) {
  const { api, log } = deps;
  const doFetch = deps.fetch ?? fetch;
  const auth = `Basic ${Buffer.from(`${api.key}:${api.secret}`).toString("base64")}`;
  let failing = false;
  const read = async (): Promise<number | null> => {
    try {
      const res = await doFetch(`${api.url}/api/v5/metrics?aggregate=true`, {
        headers: { authorization: auth },
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`EMQX answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      const body = (await res.json()) as unknown;
      // aggregated: one object; per node: a list of them
      const nodes = (Array.isArray(body) ? body : [body]) as Record<string, unknown>[];
      const counts = nodes.map((m) => Number(m?.["delivery.dropped"]));
      if (counts.length === 0 || counts.some((n) => !Number.isFinite(n))) throw new Error("EMQX's metrics hold no delivery.dropped count");
      failing = false;
      return counts.reduce((a, b) => a + b, 0);
    } catch (e: unknown) {
      if (!failing) log.warn({ err: e instanceof Error ? e.message : String(e), url: api.url }, "emqx: could not read its drop count; trying again");
      failing = true;
      return null;
    }
  };
  const poll = async () => {
    const n = await read();
    if (n !== null) deps.onCount(n);
  };
  const timer = setInterval(() => void poll().catch((e: unknown) => log.warn({ err: e }, "emqx: its drop count was not taken")), deps.everyMs);
  timer.unref();
  return {
    /** One read now (the timer reads every `everyMs`). */
    poll,
    stop: () => clearInterval(timer),
  };
}
