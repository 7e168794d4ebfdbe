import type { Catalogue, Message } from "../platform/i18n.js";
import type { Logger } from "../platform/log.js";
import type { Registry } from "../registry/registry.js";
import type { Db } from "../storage/sql.js";
import type { NightStore } from "../streetlights/index.js";
import { createDigest } from "./digest.js";
import { createAlertEngine } from "./engine.js";
import { createBlendingFeed, createBrokerFeed, createLightFeed } from "./feeds.js";
import { createNotifier, type NotifierOptions } from "./notifier.js";
import { alertStore } from "./store.js";

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
}) {
  const { clock, log, registry } = deps;
  const store = alertStore(deps.db);
  const engine = createAlertEngine({
    clock,
    initial: await store.openAlerts(),
    persist: (a) => store.putAlert(a),
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
  });
  await notifier.load();
  const digest = createDigest({ registry, nights: deps.nights, engine, notifier, clock, meta: deps.meta, more: deps.digestMore });
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
