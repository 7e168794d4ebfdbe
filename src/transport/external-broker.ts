import mqtt, { type IPublishPacket, type MqttClient } from "mqtt";
import { topics } from "../../devices/index.js";
import type { Pipeline } from "../ingest/pipeline.js";
import type { Logger } from "../platform/log.js";
import type { Metrics } from "../platform/metrics.js";

export type ExternalBrokerOptions = {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  clientId: string;
  protocolVersion: 4 | 5;
  sharedGroup: string;
  /** QoS 1 messages in the pipeline at once, awaiting their PUBACK (MQTT 5: the receive maximum the service asks for). */
  inFlight: number;
  /** `lease`: one instance at a time connects, the holder of the ingest lease (failover.ts); `off`: each instance does. */
  failover?: "off" | "lease";
};

/** Mosquitto's count of messages it dropped (a full queue, a message too large), published under $SYS every sys_interval. */
export const BROKER_DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped";

/** A broker as people read it: its URL without credentials, path or query. */
export function brokerName(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return "external broker";
  }
}

/** Reconnect backoff: 1 s, doubling to at most 5 s (the gap after a broker restart in which a `$share` subscription is missing, PROTOCOL.md §7); back to 1 s once connected. */
const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 5000;

/**
 * Where the source stands, logged once per change (not per attempt) and behind `isReady`:
 *   connecting → subscribing → receiving; a refused CONNACK → refused; the connection lost → unreachable;
 *   a SUBACK that refuses a filter → not_subscribed (subscribing again with backoff).
 */
export type ExternalState = "connecting" | "subscribing" | "receiving" | "refused" | "unreachable" | "not_subscribed" | "stopped";

/**
 * An external broker (Mosquitto, EMQX) as a message source. The service keeps a persistent
 * session (clean: false) at QoS 1, so messages published while it is down wait in the broker.
 * Up to `inFlight` messages are in the pipeline at once, and each PUBACK goes out only once the
 * log holds that message (and every one before it): see `onMessage`. With MQTT 5 and a group
 * name it subscribes through `$share/{group}/…` so several instances share the load.
 *
 * It never stops silently: it subscribes on every connect whether or not the broker says the session is present
 * (Mosquitto 2.0 does not keep `$share` subscriptions across its own restart), retries every refused or failed
 * connect with backoff, and is ready only while connected and subscribed. It reads the broker's drop counter
 * (Mosquitto's $SYS) into `agrilume_broker_dropped_messages` and warns when it rises.
 *
 * Device authentication and topic ACLs are the broker's job in this mode (PROTOCOL.md, "External broker"); the
 * service still validates every message against the registry.
 */
export function createExternalSource(deps: {
  options: ExternalBrokerOptions;
  pipeline: Pipeline;
  log: Logger;
  metrics: Metrics;
  /** The broker's drop counter rose (`broker`: its URL without credentials): the composition root raises the admin's alert. */
  onDropped?: (e: { broker: string; rise: number; total: number; at: number }) => void;
  /** The count last seen before a restart of the service: a broker that kept counting is not reported again. */
  droppedBefore?: number | undefined;
}) {
  const { options, pipeline, log, metrics } = deps;
  let client: MqttClient | null = null;
  let state: ExternalState = "connecting";
  let subscribed = false;
  let stopped = false;
  /** Counts connections, so that what a connection started (a SUBACK, a retry) is ignored once it is gone. */
  let connection = 0;
  let attempts = 0;
  let subscribeRetry: NodeJS.Timeout | null = null;
  let lastDropped: number | null = deps.droppedBefore ?? null;

  const filters = topics
    .serviceFilters()
    .map((f) => (options.protocolVersion === 5 && options.sharedGroup ? `$share/${options.sharedGroup}/${f}` : f));

  /** Logs a change of state once, with what explains it; the same state again (another attempt) is not logged. */
  const enter = (next: ExternalState, fields: Record<string, unknown> = {}) => {
    if (next === state) return;
    const was = state;
    state = next;
    const entry = { url: options.url, state: next, was, ...fields };
    if (next === "receiving") log.info({ ...entry, filters }, "external broker: subscribed, receiving");
    else if (next === "subscribing" || next === "stopped") log.info(entry, `external broker: ${next}`);
    else log.warn(entry, `external broker: ${next}; retrying with backoff, /ready is 503 until subscribed`);
  };

  const backoff = () => Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** Math.min(attempts, 10));

  /** The broker's count of messages it dropped, however it was read ($SYS here, EMQX's REST API by `emqx.ts`). */
  const droppedCount = (n: number) => {
    if (!Number.isFinite(n) || n < 0) return;
    metrics.brokerDropped.set(n);
    // A lower count than before: the broker restarted and counts from zero again.
    if (n > (lastDropped ?? 0)) {
      deps.onDropped?.({ broker: brokerName(options.url), rise: n - (lastDropped ?? 0), total: n, at: Date.now() });
      log.warn(
        { url: options.url, dropped: n, rise: n - (lastDropped ?? 0) },
        "the external broker dropped messages (a queue overflowed: readings it acknowledged to devices are lost); see max_queued_messages in PROTOCOL.md §7",
      );
    }
    lastDropped = n;
  };
  const onDropped = (payload: Buffer) => droppedCount(Number(payload.toString("utf8").trim()));

  const subscribe = (c: MqttClient, conn: number) => {
    if (subscribeRetry) clearTimeout(subscribeRetry);
    subscribeRetry = null;
    c.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (conn !== connection || stopped) return;
      // Anything but QoS 1 or 2 is not a subscription the service can rely on: a refusal (reason code ≥ 0x80), or a
      // broker capped at QoS 0 (`max_qos 0`), which would neither keep messages for the service nor redeliver them.
      const refused = (granted ?? []).filter((g) => g.qos !== 1 && g.qos !== 2).map((g) => ({ topic: g.topic, code: g.qos }));
      if (err || refused.length > 0) {
        enter("not_subscribed", err ? { err: err.message } : { refused });
        attempts++;
        subscribeRetry = setTimeout(() => c.connected && conn === connection && subscribe(c, conn), backoff());
        return;
      }
      subscribed = true;
      attempts = 0;
      enter("receiving");
    });
    // The broker's drop counter: best effort (EMQX has no such topic; an ACL may not allow it), not part of readiness.
    c.subscribe(BROKER_DROPPED_TOPIC, { qos: 0 }, () => undefined);
  };

  /**
   * QoS 1 messages taken but not yet acknowledged, in the order they arrived. mqtt.js hands over one message at a time
   * and waits for `handleMessage`'s callback, then sends the PUBACK itself: one disk flush per message. Instead the
   * callback is given an error at once (mqtt.js then sends no PUBACK and goes on to the next packet; its QoS 1 path,
   * node_modules/mqtt/build/lib/handlers/publish.js), up to `inFlight` messages are in the pipeline together so the
   * log's group commit batches them, and the service writes each PUBACK itself once the log holds that message and
   * every one before it (MQTT-4.6.0-2: PUBACKs in the order the PUBLISHes came), on the connection it came in on.
   */
  // A connection is known by its stream: mqtt.js makes a new one per connect, and hands over the PUBLISHes that follow
  // a CONNACK before it emits "connect" (once its own outgoing store is replayed), so a counter bumped there would not do.
  type Stream = MqttClient["stream"];
  type Pending = { messageId: number; stream: Stream; state: "waiting" | "durable" | "failed" };
  let pending: Pending[] = [];
  /** mqtt.js's callback for the next packet, held while the window is full. */
  let held: (() => void) | null = null;
  /** A PUBACK mqtt.js sent on its own would acknowledge before the log holds the message: counted, never expected. */
  let sendingOwnAck = false;
  let foreignAcks = 0;
  let maxPending = 0;
  const HELD = new Error("acknowledged by the service once durable");
  /** The stream of a connection given up because a message could not be recorded: nothing more is acknowledged on it. */
  let failedStream: Stream | null = null;

  const release = () => {
    const h = held;
    held = null;
    h?.();
  };
  const usable = (c: MqttClient, stream: Stream) =>
    c.connected && c.stream === stream && stream !== failedStream && !(stream as { destroyed?: boolean }).destroyed;

  const flushAcks = (c: MqttClient) => {
    // (a connection halted and replaced: the window is the new one's)
    if (c !== client) return;
    while (pending.length > 0 && pending[0]?.state !== "waiting") {
      const p = pending.shift() as Pending;
      // Not recorded, or its connection is gone: no PUBACK; the broker sends it again.
      if (p.state !== "durable" || !usable(c, p.stream)) continue;
      sendingOwnAck = true;
      try {
        (c as unknown as { _writePacket: (packet: object) => void })._writePacket({ cmd: "puback", messageId: p.messageId });
      } finally {
        sendingOwnAck = false;
      }
    }
    if (pending.length < options.inFlight) release();
  };

  /** A message could not be recorded: no PUBACK for it or anything after it; the broker redelivers them on reconnect. */
  const fail = (c: MqttClient, stream: Stream, e: unknown) => {
    if (!usable(c, stream) || stopped) return;
    failedStream = stream;
    log.error({ err: e }, "could not record a message; it stays unacknowledged at the broker, which sends it again");
    c.end(true);
    setTimeout(() => {
      if (!stopped) c.reconnect();
    }, 1000);
  };

  const onMessage = (c: MqttClient, packet: IPublishPacket, done: (err?: Error) => void) => {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (packet.topic === BROKER_DROPPED_TOPIC) {
      onDropped(payload);
      return done();
    }
    // A connection halted (fencing) still hands over what it had read: the broker sends it again to the next holder.
    if (c !== client || stopped) return;
    const stream = c.stream;
    const ingest = () => pipeline.ingest({ topic: packet.topic, payload, receivedAt: Date.now(), clientId: null, authenticatedAs: null });
    // Accepted, or rejected and recorded: either way it is ours now. A full spool leaves it with the broker.
    const check = (v: Awaited<ReturnType<typeof ingest>>) => {
      if (v.outcome === "refused" && v.reason === "spool_full") throw new Error("the spool is full");
    };
    if (packet.qos !== 1 || packet.messageId === undefined) {
      // QoS 0 (nothing to acknowledge) or 2 (not subscribed to): one at a time, mqtt.js acknowledging after `done`.
      ingest()
        .then(check)
        .then(
          () => done(),
          (e: unknown) => fail(c, stream, e),
        );
      return;
    }
    const p: Pending = { messageId: packet.messageId, stream, state: "waiting" };
    pending.push(p);
    if (pending.length > maxPending) maxPending = pending.length;
    ingest()
      .then(check)
      .then(
        () => {
          p.state = "durable";
        },
        (e: unknown) => {
          p.state = "failed";
          fail(c, stream, e);
        },
      )
      .finally(() => flushAcks(c));
    if (pending.length < options.inFlight) done(HELD);
    else held = () => done(HELD);
  };

  /** Connected and subscribed: messages published now reach the service. */
  const isReady = () => client?.connected === true && subscribed;

  return {
    filters,
    droppedCount,
    isConnected: () => client?.connected === true,
    isReady,
    state: () => state,
    /** For tests and diagnosis: messages awaiting their PUBACK (now, at most so far), PUBACKs mqtt.js sent on its own (must stay 0). */
    stats: () => ({ pending: pending.length, maxPending, foreignAcks }),
    /** The mqtt.js client, for tests that watch the packets it sends. */
    client: () => client,
    /** Connects and resolves once subscribed, or after 10 s if not (it keeps trying; `/ready` says so meanwhile). */
    async start(opts: { waitMs?: number } = {}): Promise<void> {
      // (again after `halt`: a new connection, nothing of the last one's window kept)
      stopped = false;
      pending = [];
      held = null;
      const c = mqtt.connect(options.url, {
        clientId: options.clientId,
        clean: false,
        protocolVersion: options.protocolVersion,
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
        reconnectPeriod: RECONNECT_FIRST_MS,
        // mqtt.js stops for good after a refused CONNACK ("not authorized") unless told otherwise.
        reconnectOnConnackError: true,
        // We subscribe on every connect ourselves, session present or not.
        resubscribe: false,
        connectTimeout: 10_000,
        // MQTT 5: keep the session (and its queued messages) for up to a day while the service is down, and send at
        // most the window unacknowledged (MQTT 3.1.1 has no such property: the service stops reading while it is full).
        ...(options.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 86_400, receiveMaximum: options.inFlight } } : {}),
      });
      client = c;
      c.handleMessage = (packet, done) => (packet.cmd === "publish" ? onMessage(c, packet, done) : done());
      c.on("packetsend", (packet) => {
        if (packet.cmd === "puback" && !sendingOwnAck) {
          foreignAcks++;
          log.error(
            { messageId: packet.messageId },
            "mqtt.js sent a PUBACK the service did not: the in-flight window relies on mqtt.js's handleMessage",
          );
        }
      });
      c.on("connect", (connack) => {
        if (c !== client) return;
        connection++;
        subscribed = false;
        attempts = 0;
        c.options.reconnectPeriod = RECONNECT_FIRST_MS;
        enter("subscribing", { sessionPresent: connack.sessionPresent });
        subscribe(c, connection);
      });
      c.on("reconnect", () => {
        // mqtt.js reads the period when it sets up the next attempt: 1 s, 2 s, 4 s, 5 s …
        attempts++;
        c.options.reconnectPeriod = backoff();
      });
      c.on("close", () => {
        if (c !== client) return;
        connection++;
        subscribed = false;
        // Their PUBACKs cannot go on another connection: the broker sends them again instead.
        pending = pending.filter((p) => p.stream !== c.stream);
        release();
        if (!stopped && state !== "refused") enter("unreachable");
      });
      c.on("error", (e) => {
        const code = (e as { code?: unknown }).code;
        // A refused CONNACK (bad credentials, not authorised, server unavailable) carries the broker's reason code.
        if (/^Connection refused/.test(e.message)) enter("refused", { reason: e.message, code });
        else if (!client?.connected && !stopped) enter("unreachable", { err: e.message });
        else log.debug({ err: e.message }, "external broker error");
      });
      const deadline = Date.now() + (opts.waitMs ?? 10_000);
      while (!isReady() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!isReady() && opts.waitMs !== 0)
        log.warn({ url: options.url, state }, "external broker: not subscribed yet; the service starts and keeps trying");
    },
    publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
      if (!client) return Promise.reject(new Error("not connected"));
      const c = client;
      return new Promise((resolve, reject) => c.publish(topic, payload, { qos: 1, retain }, (err) => (err ? reject(err) : resolve())));
    },
    /**
     * Fencing (failover.ts): drops the connection now, without a DISCONNECT or waiting for anything, and does not
     * reconnect. Nothing taken but not yet acknowledged gets its PUBACK (the connection is gone): the broker keeps it in
     * the session for whoever connects next with this client id. `start` connects again.
     */
    halt() {
      stopped = true;
      if (subscribeRetry) clearTimeout(subscribeRetry);
      subscribeRetry = null;
      subscribed = false;
      const c = client;
      if (!c) return;
      // (mqtt.js's end(true) closes the stream at once; the listeners see "close" and the pending window is dropped)
      c.end(true);
      c.stream?.destroy();
      enter("stopped");
    },
    async stop() {
      stopped = true;
      if (subscribeRetry) clearTimeout(subscribeRetry);
      enter("stopped");
      if (client) await client.endAsync();
    },
  };
}
export type ExternalSource = ReturnType<typeof createExternalSource>;
