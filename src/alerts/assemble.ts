import type { Catalogue, Message } from "../platform/i18n.js";
import type { Logger } from "../platform/log.js";
import type { Registry } from "../registry/registry.js";
import type { JobClaims } from "../storage/claims.js";
import type { Db } from "../storage/sql.js";
import type { NightStore } from "../streetlights/index.js";
import { createDigest } from "./digest.js";
import { createAlertEngine } from "./engine.js";
import { createBlendingFeed, createBrokerFeed, createLightFeed } from "./feeds.js";
import { createNotifier, type NotifierOptions } from "./notifier.js";
import { alertStore, isOpenAlertConflict } from "./store.js";

/** How long a delivery record (a message sent to a channel, its attempts and error) is kept: a channel's recent
 * deliveries are for checking that it works; the alerts, with their history, are what is kept as evidence. */
export const DELIVERIES_KEPT_MS = 90 * 86_400_000;

/**
 * Alerting, assembled: conditions → alerts (one open per device and type, the open ones loaded from the store) →
 * channels, and the morning digest. The composition root feeds it lights' conditions (`onLightCondition`) and
 * stations' conditions (`blendingFeed`), and schedules `notifier.tick` and `digest.run`.
 */
export async function createAlerting(deps: {
  db: Db;
  registry: Registry;
  nights: NightStore;
  clock: () => number;
  log: Logger;
  messages: Catalogue;
  options: Partial<NotifierOptions>;
  publish: (topic: string, body: unknown) => Promise<void>;
  deliveries: { sent: (type: string) => void; failed: (type: string) => void };
  meta: { get: (key: string) => Promise<string | undefined>; set: (key: string, value: string) => Promise<void> };
  /** Another feature's line for a town's morning digest (field work's figures). */
  digestMore?: (town: string) => Promise<Message | null>;
  /** Claimed jobs in the state store (the digest, reminders), and this instance's id (issue 18). */
  claims: JobClaims;
  instance: string;
  /** A station's name for the texts people read (its id when it has none). */
  stationName?: (id: string) => string | undefined;
}) {
  const { clock, log, registry, db, instance } = deps;
  const store = alertStore(db);
  /**
   * On a shared store (PostgreSQL), each change of an alert is announced (`alerts`: this instance's id and the
   * alert's), and channels and silences too (`alert_settings`): every other instance reads it back (see below).
   */
  const shared = !!db.notify && !!db.listen;
  const announce = async (topic: string, payload: string) =>
    db.notify?.(topic, payload).catch((e: unknown) => log.warn({ err: e, topic }, "could not tell the other instances of a change"));
  const engine = createAlertEngine({
    clock,
    initial: await store.openAlerts(),
    persist: async (a) => {
      const written = await store.putAlert(a);
      if (shared) await announce("alerts", `${instance}\n${a.id}`);
      return written;
    },
    conflict: shared ? { is: isOpenAlertConflict, current: (deviceId, type) => store.openAlertFor(deviceId, type) } : undefined,
    onPersistError: (e) => log.warn({ err: e }, "could not record an alert"),
    history: { get: (id) => store.getAlert(id), resolved: (q) => store.resolvedAlerts(q) },
  });
  const lightFeed = createLightFeed({ engine, registry });
  const blendingFeed = createBlendingFeed({ engine, registry });
  const brokerFeed = createBrokerFeed({ engine });
  const notifier = createNotifier({
    engine,
    store,
    clock,
    log,
    messages: deps.messages,
    options: deps.options,
    publish: deps.publish,
    metrics: deps.deliveries,
    claims: deps.claims,
    ...(deps.stationName ? { stationName: deps.stationName } : {}),
    settingsChanged: shared ? () => announce("alert_settings", instance) : undefined,
  });
  await notifier.load();
  if (shared) {
    // A change made on another instance: the alert read back into memory (its new entries emitted, so live streams
    // show it); all open alerts again after the listening connection was lost (notices may have been missed).
    const refreshAll = async () => {
      for (const a of await store.openAlerts()) engine.refresh(a);
      for (const a of engine.list()) if (a.state !== "resolved") engine.refresh((await store.getAlert(a.id)) ?? a);
    };
    await db.listen?.("alerts", (payload) => {
      const [from, id] = (payload ?? "").split("\n");
      if (payload !== null && from === instance) return;
      (payload === null || !id ? refreshAll() : store.getAlert(id).then((a) => a && engine.refresh(a))).catch((e: unknown) =>
        log.warn({ err: e }, "could not read an alert again after a change elsewhere"),
      );
    });
    await db.listen?.("alert_settings", (payload) => {
      if (payload === instance) return;
      notifier.load().catch((e: unknown) => log.warn({ err: e }, "could not read channels and silences again after a change elsewhere"));
    });
  }
  const digest = createDigest({
    registry,
    nights: deps.nights,
    engine,
    notifier,
    clock,
    meta: deps.meta,
    claims: deps.claims,
    more: deps.digestMore,
  });
  return {
    engine,
    notifier,
    digest,
    blendingFeed,
    /** The external broker's drop counter rose (the external source's `onDropped`); `tick` resolves a quiet broker's alert. */
    brokerFeed,
    /** Deletes delivery records older than DELIVERIES_KEPT_MS (docs/DATA.md); the retention job's. */
    pruneDeliveries: (now: number) => store.pruneDeliveries(now - DELIVERIES_KEPT_MS),
    /** A light's condition changed (the streetlight monitor's `condition` event). */
    onLightCondition: (id: string, condition: string, detail: Message | null, at: number) => lightFeed.condition(id, condition, detail, at),
  };
}
