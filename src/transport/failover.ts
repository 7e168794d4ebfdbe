import type { Logger } from "../platform/log.js";
import type { Metrics } from "../platform/metrics.js";
import { createAdvisoryLease, type LeaseState } from "../storage/postgres-lease.js";
import type { ExternalBrokerOptions, ExternalSource } from "./external-broker.js";

export type IngestRole = "active" | "standby";

/**
 * Active/standby ingest (AGRILUME_INGEST_FAILOVER=lease, docs/DEPLOYMENT.md): of all the instances on one PostgreSQL
 * state store, exactly one, the holder of the ingest lease (a session advisory lock, storage/postgres-lease.ts), is
 * connected to the broker with the fixed client id and its persistent session; the others serve HTTP and wait for the
 * lease. When the holder dies its PostgreSQL session ends and the lock is free: a standby takes it within the time
 * PostgreSQL needs to notice, connects with the same client id, and the broker hands it the session's queued messages
 * and those the dead one had not acknowledged. Nothing is stranded, as it is in a dead member's share of a shared
 * subscription.
 *
 * Fencing: the moment the lease connection is lost or silent, the holder drops its broker connection (`halt`), before
 * it even tries for the lease again; and a broker lets one connection per client id, so a new holder's connect throws
 * out an old one that has not yet noticed. What the old one logged but had not acknowledged comes again to the new
 * one: the telemetry store keeps one point per device and time (InfluxDB), so it is stored once.
 *
 * A standby has no broker connection of its own (with `use_username_as_clientid`, as docs/brokers/mosquitto.conf has
 * it, a second connection of the service's account would take the session over): what it publishes (commands, alert
 * topics, station displays) it hands to the active instance through PostgreSQL (NOTIFY on `relay`), which publishes it.
 * With no active instance at that moment (PostgreSQL down, a takeover under way) such a message is not sent.
 */
export function createIngestFailover(deps: {
  stateUrl: string;
  instance: string;
  options: ExternalBrokerOptions;
  source: ExternalSource;
  /** The state store's notifications: a standby's messages reach the active one this way. */
  relay: { send: (payload: string) => Promise<void>; listen: (fn: (payload: string | null) => void) => Promise<void> };
  log: Logger;
  metrics: Metrics;
  clock?: () => number;
  /** Told when this instance becomes the active one (before readings arrive): what it judges from them starts afresh. */
  onActive?: () => void;
}) {
  const { options, source, log } = deps;
  const clock = deps.clock ?? Date.now;
  let role: IngestRole = "standby";
  let since = clock();
  /** The role changes (and `since` with it) and the metric says it. */
  const setRole = (next: IngestRole) => {
    role = next;
    since = clock();
    deps.metrics.ingestActive.set(next === "active" ? 1 : 0);
  };

  const lease = createAdvisoryLease({
    url: deps.stateUrl,
    name: `ingest ${options.clientId}`,
    applicationName: `agrilume ingest lease ${deps.instance}`,
    onAcquired: () => {
      setRole("active");
      log.info(
        { instance: deps.instance, clientId: options.clientId },
        "ingest lease taken: this instance is the active one, connecting to the broker",
      );
      try {
        deps.onActive?.();
      } catch (e: unknown) {
        log.warn({ err: e }, "could not prepare for taking readings");
      }
      source.start({ waitMs: 0 }).catch((e: unknown) => log.error({ err: e }, "could not start the broker connection after taking the ingest lease"));
    },
    onLost: (why) => {
      // Fencing first: no more readings taken or acknowledged on this instance.
      source.halt();
      setRole("standby");
      log.warn({ instance: deps.instance, why }, "ingest lease lost: disconnected from the broker, standing by");
    },
    onState: (state: LeaseState, detail?: string) => {
      if (state === "waiting") log.info({ instance: deps.instance }, "standing by for the ingest lease");
      else if (state === "connecting" && detail) log.debug({ detail }, "ingest lease: connecting to PostgreSQL again");
    },
  });

  /** A standby's message for the broker, as the active one reads it from the relay. */
  type Relayed = { topic: string; payload: string; retain: boolean };
  const onRelayed = (text: string | null) => {
    if (role !== "active" || !text) return;
    let m: Relayed;
    try {
      m = JSON.parse(text) as Relayed;
    } catch {
      return;
    }
    source
      .publish(m.topic, Buffer.from(m.payload, "base64"), m.retain)
      .catch((e: unknown) => log.warn({ err: e, topic: m.topic }, "could not publish a standby's message"));
  };

  return {
    role: () => role,
    /** Since when this instance has had its role (ms). */
    since: () => since,
    lease: () => lease.state(),
    /**
     * Ready to do its part: the active one connected and subscribed; a standby in line for the lease (its PostgreSQL
     * connection up and waiting) with its publishing connection up.
     */
    isReady: () => (role === "active" ? source.isReady() : lease.state() === "waiting"),
    async start() {
      await deps.relay.listen(onRelayed);
      lease.start();
    },
    /** Through the broker connection while active, else handed to the active instance (PostgreSQL's NOTIFY). */
    publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
      if (role === "active") return source.publish(topic, payload, retain);
      const text = JSON.stringify({ topic, payload: payload.toString("base64"), retain } satisfies Relayed);
      // PostgreSQL's limit for a notification's payload is 8,000 bytes.
      if (Buffer.byteLength(text) > 7900) return Promise.reject(new Error("a message this large cannot be relayed to the active instance"));
      return deps.relay.send(text);
    },
    async stop() {
      // Disconnected first (the session stays at the broker), then the lease freed for a standby.
      await source.stop();
      await lease.stop();
    },
  };
}
export type IngestFailover = ReturnType<typeof createIngestFailover>;
