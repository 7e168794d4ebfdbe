import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { availableParallelism } from "node:os";
import { createAccounts } from "./access/accounts.js";
import { createApiKeys } from "./access/api-keys.js";
import { auditEntry, createAuthenticator } from "./access/authenticate.js";
import { createAccess } from "./access/scope.js";
import { createAlerting } from "./alerts/assemble.js";
import { alertRoutes } from "./alerts/routes.js";
import { createBlendingMonitor } from "./blending/monitor.js";
import { blendingRoutes } from "./blending/routes.js";
import { createBlending } from "./blending/service.js";
import { blendingStore } from "./blending/store.js";
import { controlRoutes } from "./control/routes.js";
import { WAVE_MS as CONTROL_WAVE_MS, createLightControl } from "./control/service.js";
import { controlStore } from "./control/store.js";
import { ANSWERS_KEPT_MS, fieldworkRoutes } from "./fieldwork/routes.js";
import { createFieldwork } from "./fieldwork/service.js";
import { fieldworkStore } from "./fieldwork/store.js";
import { visitReportJobs } from "./fieldwork/visit-jobs.js";
import { visitRoutes } from "./fieldwork/visit-routes.js";
import { createVisits, visitStore } from "./fieldwork/visits.js";
import { brokerRoutes } from "./fleet/broker-routes.js";
import { deviceRoutes } from "./fleet/routes.js";
import { registerConsole, tileOrigins } from "./http/console.js";
import { createHttpServer } from "./http/server.js";
import { openDurableIngest } from "./ingest/durable.js";
import type { AcceptedReading } from "./ingest/pipeline.js";
import { createPresence } from "./ingest/presence.js";
import { rejectSink, telemetrySink } from "./ingest/sinks.js";
import { createMessages } from "./messages.js";
import { chinaDate } from "./platform/clock.js";
import type { Config } from "./platform/config.js";
import { instanceId } from "./platform/instance.js";
import type { Logger } from "./platform/log.js";
import { createMetrics, observeGc } from "./platform/metrics.js";
import { createScheduler, type Scheduler } from "./platform/scheduler.js";
import { createWorkerPool } from "./platform/workers.js";
import { createRegistry } from "./registry/registry.js";
import { openStateStore } from "./state.js";
import { jobClaims } from "./storage/claims.js";
import type { DashboardPoint } from "./storage/dashboard-points.js";
import { createDuckDbTelemetryStore } from "./storage/duckdb-telemetry.js";
import { createInfluxTelemetryStore } from "./storage/influx-telemetry.js";
import { createStreetlightMonitor } from "./streetlights/monitor.js";
import { streetlightRoutes } from "./streetlights/routes.js";
import { nightStore } from "./streetlights/store.js";
import { accountRoutes } from "./system/account-routes.js";
import { createReadiness } from "./system/readiness.js";
import { systemRoutes } from "./system/routes.js";
import { createCommandBus } from "./transport/command-bus.js";
import { createEmbeddedBroker } from "./transport/embedded-broker.js";
import { createEmqxAuth, createEmqxDisconnector, createEmqxDropWatch } from "./transport/emqx.js";
import { createExternalSource } from "./transport/external-broker.js";
import { createIngestFailover } from "./transport/failover.js";
import { createMosquittoAccounts } from "./transport/mosquitto-accounts.js";
import { verificationJobs } from "./verification/jobs.js";
import { verificationRoutes } from "./verification/routes.js";
import { createVerification } from "./verification/service.js";
import { verificationStore } from "./verification/store.js";

/** The external broker's drop count last reported (state meta), so a restart of the service does not report it again. */
const BROKER_DROPPED_META = "broker_dropped_total";
/** How often an external EMQX's drop count is read (its REST API), as Mosquitto publishes its own (sys_interval). */
const EMQX_DROPS_EVERY_MS = 30_000;

/** The periodic work of a running service, by name (the scheduler logs a failed run and goes on). */
function scheduleTasks(
  scheduler: Scheduler,
  run: Record<
    | "gauges"
    | "pruneRejects"
    | "retention"
    | "retentionAfterStart"
    | "rollups"
    | "blendingConditions"
    | "alertDeliveries"
    | "digest"
    | "nightly"
    | "neverReported"
    | "repairProofs"
    | "controlWaves"
    | "controlExpiry",
    () => Promise<unknown> | unknown
  >,
) {
  scheduler.every("gauges and presence", 5_000, run.gauges);
  scheduler.every("prune rejects", 10 * 60_000, run.pruneRejects);
  // Telemetry rollups and pruning, and the state tables that are not kept as evidence (docs/DATA.md); small steps.
  scheduler.every("retention", 3_600_000, run.retention);
  scheduler.once("retention", 60_000, run.retentionAfterStart);
  // The embedded store's live rollups: the hours that closed since, and late readings (docs/DATA.md); small steps.
  scheduler.every("rollups", 5 * 60_000, run.rollups);
  scheduler.every("blending conditions", 30_000, run.blendingConditions);
  scheduler.every("alert deliveries", 5_000, run.alertDeliveries);
  scheduler.every("morning digest", 60_000, run.digest);
  scheduler.every("nightly records", 5 * 60_000, run.nightly);
  scheduler.every("lights that never reported", 5 * 60_000, run.neverReported);
  // Repaired lights that said nothing within the proof window: their work orders reopen.
  scheduler.every("repairs without proof", 10 * 60_000, run.repairProofs);
  // Catch up soon after a start, not only five minutes in.
  scheduler.once("nightly records", 10_000, run.nightly);
  // Streetlight commands: waves every 100 ms, each what AGRILUME_CONTROL_RATE_PER_S allows; commands past their expiry.
  scheduler.every("light campaign waves", CONTROL_WAVE_MS, run.controlWaves);
  scheduler.every("light commands expiry", 30_000, run.controlExpiry);
}

export type Started = {
  httpUrl: string;
  mqttUrl: string | null;
  ports: { http: number; mqtt?: number | undefined; ws?: number | undefined; tls?: number | undefined };
  /** The web console's address, or null when it is not built. */
  consoleUrl: string | null;
  /** Set only when this start created the first admin key. */
  createdAdminKey: string | null;
  /** Set only when this start created the first-run `admin` account with a generated password (to be changed at sign-in). */
  createdAdminPassword: string | null;
};

/**
 * The composition root: builds every part with explicit arguments and wires them.
 * device → broker (embedded | external) → pipeline → write-ahead log → store writer → stores
 *                                                   ↘ presence, latest state, monitors
 */
export async function createApp(config: Config, deps: { log: Logger; clock?: () => number }) {
  const { log } = deps;
  const clock = deps.clock ?? Date.now;
  mkdirSync(config.dataDir, { recursive: true });
  const metrics = createMetrics();
  /** Stops recording the main thread's garbage collections (started by start()). */
  let stopGcObserver = () => {};
  /** Every vocabulary, for all who render text for people (src/messages.ts). */
  const messages = createMessages();
  // Long CPU work (reports, file imports, reading the log back) runs in these threads, not in the one that sends PUBACKs:
  // one core is left to that one. A few jobs may wait; more are refused as busy (503).
  const workers = createWorkerPool({
    size: Math.max(1, availableParallelism() - 1),
    maxQueued: 8,
    onCrash: (err) => log.error({ err }, "a worker thread failed"),
  });

  const instance = instanceId(config.dataDir, config.instanceId);
  const state = await openStateStore(config.dataDir, { url: config.stateUrl, instance });
  /** Jobs that run once per due time across the instances sharing the state store (src/storage/claims.ts). */
  const claims = jobClaims(state.db, instance, clock);
  /** A periodic job claimed per interval: of the instances whose timers fire in one interval, the first runs it. */
  const claimed = (job: string, everyMs: number, fn: () => Promise<unknown> | unknown) => (): Promise<unknown> =>
    claims.run(job, String(Math.floor(clock() / everyMs)), fn);
  const telemetry =
    config.store.kind === "influx"
      ? await createInfluxTelemetryStore({ ...config.store.influx, instance }, log, (n) => metrics.storeDropped.inc(n))
      : await createDuckDbTelemetryStore(config.dataDir, { retention: config.store.retention });
  const registry = await createRegistry(state.devices, clock);
  // Commands and service messages go out through whichever broker runs (attached below).
  const bus = createCommandBus();
  const presence = createPresence({
    timeoutMs: { streetlight: 3 * config.ingest.reportIntervalS.streetlight * 1000, blender: 3 * config.ingest.reportIntervalS.blender * 1000 },
    familyOf: (id) => registry.get(id)?.family,
    record: (events) => state.presence.insertPresenceEvents(events),
    onError: (e) => log.warn({ err: e }, "could not record presence changes; will retry"),
  });
  const blendStore = blendingStore(state.db, state.checkpointKey("blending_seq"));
  // On a shared state store, stations, materials and orders changed here are announced, and those changed elsewhere read again.
  const blending = await createBlending({
    store: blendStore,
    registry,
    bus,
    clock,
    changed: state.db.notify
      ? async (what) =>
          state.db.notify?.("blending", `${instance}\n${what}`).catch((e: unknown) => log.warn({ err: e }, "could not announce a change"))
      : undefined,
  });
  await state.db.listen?.("blending", (payload) => {
    const [from, what = ""] = (payload ?? "").split("\n");
    if (payload !== null && from === instance) return;
    blending
      .refresh(payload === null ? null : what)
      .catch((e: unknown) => log.warn({ err: e }, "could not read blending again after a change elsewhere"));
  });
  /** Dashboard points; the promise settles when they are written (the nightly pass waits, so its writes cannot pile up). */
  const writeDashboardPoints = (points: DashboardPoint[]): Promise<void> =>
    telemetry.writeDashboardPoints(points).catch((e: unknown) => log.warn({ err: e, points: points.length }, "could not write dashboard points"));
  const blendingMonitor = createBlendingMonitor({
    store: blendStore,
    blending,
    registry,
    presence,
    bus,
    clock,
    log,
    writeDashboardPoints,
    rejectBatches: async (rs) => {
      await state.rejects.writeRejects(rs, null);
      for (const r of rs) metrics.rejected.inc({ family: "blender", reason: r.reason });
    },
  });
  const nights = nightStore(state.db);
  // Streetlight control (protocol v1.1): commands, their delivery, what each light applied, campaigns.
  const control = createLightControl({
    store: controlStore(state.db, state.checkpointKey("control_seq")),
    registry,
    presence,
    bus,
    clock,
    log,
    settings: config.control,
    rejectAcks: async (rs) => {
      await state.rejects.writeRejects(rs, null);
      for (const r of rs) metrics.rejected.inc({ family: "streetlight", reason: r.reason });
    },
  });
  const streetlights = createStreetlightMonitor({
    registry,
    presence,
    telemetry,
    nights,
    clock,
    reportIntervalMs: config.ingest.reportIntervalS.streetlight * 1000,
    log,
    writeDashboardPoints,
    storedSeq: () => Math.min(...Object.values(writer.checkpoints())),
    neverReported: { seen: () => state.presence.devicesSeen(), graceMs: config.neverReportedMs },
    control,
  });

  // Everything that consumes durable records, each with its own checkpoint, fed from the write-ahead log.
  const { wal, writer, pipeline } = await openDurableIngest({
    config,
    sinks: (logLines) => [telemetrySink(telemetry, logLines), rejectSink(state.rejects), blendingMonitor.sink, control.sink],
    registry,
    presence,
    metrics,
    workers,
    log,
    clock,
  });
  const apiKeys = await createApiKeys(state.keys, clock);
  // On a shared state store, devices registered or changed and keys made or revoked on another instance are read here
  // too (within a notification's delay; everything again after the listening connection was lost).
  await state.db.listen?.("devices", (ids) => {
    (ids === null || ids === "*" ? state.devices.allDevices() : state.devices.devicesById(ids.split("\n")))
      .then((records) => registry.refresh(records))
      .catch((e: unknown) => log.warn({ err: e }, "could not read devices again after a change elsewhere"));
  });
  await state.db.listen?.("keys", () => {
    apiKeys.reload().catch((e: unknown) => log.warn({ err: e }, "could not read the API keys again after a change elsewhere"));
  });
  const accounts = await createAccounts(state.users, config.accounts, clock);
  // (a change this instance made is already in its memory: only another instance's, or a lost connection's null, is read)
  await state.db.listen?.("accounts", (from) => {
    if (from !== null && from === instance) return;
    accounts.reload().catch((e: unknown) => log.warn({ err: e }, "could not read the accounts again after a change elsewhere"));
  });
  const authenticate = createAuthenticator(apiKeys, accounts);

  pipeline.events.on("reading", blendingMonitor.onReading);
  pipeline.events.on("reading", streetlights.onReading);
  pipeline.events.on("reading", control.onReading);

  /** The alerts' broker feed, once assembled below (the source starts after it). */
  let onBrokerDropped: (e: { broker: string; rise: number; total: number; at: number }) => void = () => undefined;
  const external = config.mqtt.external
    ? createExternalSource({
        options: config.mqtt.external,
        pipeline,
        log,
        metrics,
        onDropped: (e) => onBrokerDropped(e),
        droppedBefore: Number(await state.getMeta(BROKER_DROPPED_META)) || undefined,
      })
    : null;
  // An external Mosquitto's password and ACL files, written from the registry and kept in step with it (PROTOCOL.md §7).
  const mosquittoAccounts = config.mqtt.mosquitto ? createMosquittoAccounts({ options: config.mqtt.mosquitto, registry, log }) : null;
  // EMQX asks the service who may connect and what they may do, and is told to drop disabled and rotated devices.
  const emqxAuth = createEmqxAuth({
    registry,
    service: config.mqtt.emqx.service,
    failedChecksPerSourcePerMinute: config.ingest.authPerSourcePerMinute,
    log,
  });
  const emqxDisconnector = config.mqtt.emqx.api ? createEmqxDisconnector({ api: config.mqtt.emqx.api, registry, log }) : null;
  // Behind EMQX, its drop count comes from its REST API (Mosquitto publishes its own under $SYS, read by the source).
  const emqxDrops =
    config.mqtt.emqx.api && external
      ? createEmqxDropWatch({ api: config.mqtt.emqx.api, everyMs: EMQX_DROPS_EVERY_MS, onCount: (n) => external.droppedCount(n), log })
      : null;
  const embedded = external
    ? null
    : await createEmbeddedBroker({
        options: {
          host: config.mqtt.host,
          port: config.mqtt.port,
          wsPort: config.mqtt.wsPort,
          tls: config.mqtt.tls,
          maxPacketBytes: config.ingest.maxPacketBytes,
          banMs: config.ingest.banMs,
          authPerSourcePerMinute: config.ingest.authPerSourcePerMinute,
          refuseDelayMs: config.ingest.refuseDelayMs,
        },
        registry,
        pipeline,
        presence,
        metrics,
        log,
      });

  // Active/standby ingest: the external source connects only while this instance holds the lease (docs/DEPLOYMENT.md).
  const failover =
    external && config.mqtt.external?.failover === "lease" && config.stateUrl
      ? createIngestFailover({
          stateUrl: config.stateUrl,
          instance,
          options: config.mqtt.external,
          source: external,
          relay: {
            send: (payload) => state.db.notify?.("relay", payload) ?? Promise.reject(new Error("the state store cannot notify")),
            listen: async (fn) => state.db.listen?.("relay", fn),
          },
          log,
          metrics,
          // taking over: the lights' live conditions read again from the store (the last active one kept them
          // current), and every device held online gets a timeout to speak before it is called silent
          onActive: () => {
            presence.grace(clock());
            restoreLive().catch((e: unknown) => log.warn({ err: e }, "could not restore the lights' conditions on taking ingest over"));
          },
        })
      : null;
  /**
   * Each device's presence as last recorded, then each light's live state from its readings in the store: after a
   * start (or a takeover) the API and the dashboards say what was last known, not "never reported" or `off`.
   */
  const restoreLive = async () => {
    presence.restore(await state.presence.latestPresence(), clock());
    return streetlights.restore();
  };
  /** This instance takes the readings: always, except a standby under active/standby ingest. */
  const ingesting = () => failover === null || failover.role() === "active";
  /** A periodic task judged from the readings (or sent through the broker connection) of the instance taking them. */
  const onlyIngesting = (fn: () => Promise<unknown> | unknown) => (): Promise<unknown> | unknown => (ingesting() ? fn() : undefined);
  const source = embedded ?? failover ?? external;
  if (source) bus.attach(source);

  // The one access owner: routes declare what they touch, each kind's owner says where its objects are (src/access).
  const access = createAccess();
  const http = await createHttpServer({
    log,
    access,
    authenticate,
    audit: (r) => {
      const entry = auditEntry(r, clock());
      if (entry) state.users.insertAudit(entry).catch((e: unknown) => log.warn({ err: e, route: entry.route }, "could not record an audit entry"));
    },
    lang: config.lang,
    trustProxy: config.http.trustProxy,
    requestTimeoutMs: config.http.requestTimeoutMs,
    messages,
  });
  systemRoutes(http, {
    metrics,
    apiKeys,
    readiness: createReadiness({
      telemetry,
      state: { ping: () => state.db.all("SELECT 1") },
      broker: () => (failover ? failover.isReady() : external ? external.isReady() : embedded?.ports.mqtt !== undefined),
      writerFailingSince: () => writer.failingSince(),
      clock,
    }),
    ingestRole: () => failover?.role() ?? null,
  });
  accountRoutes(http, { accounts, audit: state.users });
  blendingRoutes(http, { blending, monitor: blendingMonitor, store: blendStore, messages, access, registry });
  streetlightRoutes(http, { registry, monitor: streetlights, nights, clock, messages, access, mapTiles: config.mapTiles });
  controlRoutes(http, { control, registry, nights, clock, access, messages });
  // Alerts: conditions → alerts (one open per device and type) → channels.
  const {
    engine,
    notifier,
    digest,
    blendingFeed,
    brokerFeed,
    pruneDeliveries,
    onLightCondition: onCondition,
  } = await createAlerting({
    db: state.db,
    registry,
    nights,
    clock,
    log,
    messages,
    options: { lang: config.lang, ...config.alerts },
    publish: (topic, body) => bus.publish(topic, body, { retain: false }),
    deliveries: {
      sent: (type) => metrics.alertDeliveries.inc({ channel: type, outcome: "sent" }),
      failed: (type) => metrics.alertDeliveries.inc({ channel: type, outcome: "failed" }),
    },
    meta: { get: (k) => state.getMeta(k), set: (k, v) => state.setMeta(k, v) },
    // (field work is made below, from the alerts: its line is asked for when the digest goes out)
    digestMore: (town) => fieldwork.digestLine(town),
    stationName: (id) => blending.station(id)?.name,
    claims,
    instance,
  });
  streetlights.events.on("condition", onCondition);
  onBrokerDropped = (e) => {
    brokerFeed.dropped(e.broker, e.rise, e.total, clock());
    state.setMeta(BROKER_DROPPED_META, String(e.total)).catch((err: unknown) => log.warn({ err }, "could not record the broker's drop count"));
  };
  alertRoutes(http, { engine, notifier, messages, access, deviceAt: (id) => registry.get(id) ?? null });
  // Field work: work orders from alerts, closed only when the light's next readings prove the repair (after the
  // monitor has applied each reading: this listener is added after its own).
  const fieldStore = fieldworkStore(state.db);
  const fieldwork = await createFieldwork({
    store: fieldStore,
    clock,
    settings: config.fieldwork,
    alert: (id) => engine.find(id),
    light: (id) => registry.get(id),
    villageLights: (town, village) => registry.village("streetlight", town, village),
    condition: (id) => {
      const d = registry.get(id);
      return d ? streetlights.conditionOf(d) : { condition: "offline", detail: null };
    },
    lastReadingAt: (id) => streetlights.lastReadingAt(id),
    nights,
    onError: (e) => log.warn({ err: e }, "could not judge a repaired light's reading"),
  });
  const onFieldReading = (r: AcceptedReading) => {
    if (r.device.family === "streetlight" && r.message.kind === "telemetry")
      fieldwork.onReading(r.device.id, r.ts)?.catch((e: unknown) => log.warn({ err: e }, "could not judge a repaired light's reading"));
  };
  pipeline.events.on("reading", onFieldReading);
  fieldworkRoutes(http, { fieldwork, store: fieldStore, messages, access, clock });
  const verification = createVerification({
    store: verificationStore(state.db),
    nights,
    registry,
    settings: config.verification,
    writeDashboardPoints,
  });
  const reportJobs = verificationJobs({
    pool: workers,
    limits: config.imports,
    store: verificationStore(state.db),
    nights,
    registry,
    settings: config.verification,
    writeDashboardPoints,
  });
  verificationRoutes(http, { verification, jobs: reportJobs, clock, messages, access });
  // Field verification visits: the bureau's visit list recorded at the poles, beside the report's data verdicts.
  const claimAt = async (deviceId: string) => {
    const found = await verificationStore(state.db).claimAt(deviceId);
    if (!found?.project) return undefined;
    const { claim, project } = found;
    return {
      deviceId: claim.deviceId,
      town: project.town,
      village: project.village,
      lat: claim.lat,
      lon: claim.lon,
      controllerSerial: claim.controllerSerial,
    };
  };
  visitRoutes(http, {
    visits: createVisits({ store: visitStore(state.db), clock, claim: claimAt, settings: config.fieldwork }),
    claim: claimAt,
    answers: fieldStore,
    report: visitReportJobs({ pool: workers, visits: visitStore(state.db), verification: reportJobs }),
    messages,
    access,
    clock,
  });
  /**
   * The nightly pass (streetlights), then, when it recorded new nights, the finance dashboard's points from the
   * district's report of the 30 nights before today (DOMAIN.md §2): the dashboard has figures without anyone opening a
   * report, and no report is recorded as made. Returns the nightly records written.
   */
  const runNightly = async (now = clock()): Promise<number> => {
    const written = await streetlights.runNightly(now);
    if (written > 0) await reportJobs.dashboardPoints({ until: chinaDate(now), nights: 30 });
    return written;
  };
  deviceRoutes(http, {
    registry,
    presence,
    pipeline,
    importLimits: config.imports,
    telemetry,
    rejects: state.rejects,
    presenceHistory: state.presence,
    clock,
    messages,
    disconnect: (id) => embedded?.disconnect(id),
    workers,
    access,
  });
  brokerRoutes(http, { emqx: emqxAuth, authSecret: config.mqtt.emqx.authSecret });
  const undefinedKinds = access.undefinedKinds();
  if (undefinedKinds.length > 0) throw new Error(`routes touch kinds no owner defined: ${undefinedKinds.join(", ")}`);
  const webConsole = await registerConsole(http, undefined, tileOrigins(config.mapTiles));
  if (!webConsole.built) log.warn("the web console is not built (run npm install or npm run build:web); / explains this");

  const scheduler = createScheduler({ log });
  const updateGauges = () => {
    const online = presence.counts();
    const registered = registry.counts();
    for (const family of ["streetlight", "blender"] as const) {
      metrics.online.set({ family }, online[family] ?? 0);
      metrics.registered.set({ family }, registered[family]);
    }
  };

  /** The retention job (docs/DATA.md): the telemetry store's own, then the state tables that are not evidence. */
  const retentionStop = new AbortController();
  const runRetention = async () => {
    const now = clock();
    const done = await telemetry.applyRetention?.(now, retentionStop.signal);
    if (done && done.steps > 0) log.info({ ...done }, "telemetry retention");
    if (retentionStop.signal.aborted) return done;
    await state.presence.prunePresenceEvents(now - config.store.retention.hourlyMs);
    await pruneDeliveries(now);
    await fieldStore.pruneAnswers(now - ANSWERS_KEPT_MS);
    await claims.prune(now - 7 * 86_400_000);
    await control.prune(now);
    return done;
  };

  let stopping: Promise<void> | null = null;
  /** The periodic work handed to the scheduler by start() (null before it). */
  let tasks: Parameters<typeof scheduleTasks>[1] | null = null;

  return {
    config,
    /** This instance's id (AGRILUME_INSTANCE_ID, else kept in the data dir). */
    instanceId: instance,
    registry,
    pipeline,
    blending,
    blendingMonitor,
    streetlights,
    control,
    alerts: { engine, notifier, digest },
    fieldwork,
    presence,
    telemetry,
    state,
    claims,
    runNightly,
    writer,
    wal,
    apiKeys,
    accounts,
    authenticate,
    access,
    metrics,
    http,
    workers,
    broker: embedded,
    external,
    /** Active/standby ingest (AGRILUME_INGEST_FAILOVER=lease), else null. */
    failover,
    /** Behind EMQX: its drop count read from its REST API (null otherwise). */
    emqxDrops,
    mosquittoAccounts,
    /** One run of the hourly retention job, now (tests; the scheduler runs it). */
    runRetention,
    /** The periodic work as the scheduler runs it, claims included (tests), once started. */
    tasks: () => tasks,
    async start(): Promise<Started> {
      stopGcObserver = observeGc(metrics);
      // (pending commands first: answers replayed from the log apply to them)
      await control.load();
      const { replayed } = await writer.start();
      if (replayed > 0) log.info({ replayed }, "replayed acknowledged messages from the write-ahead log into the stores");
      // Each light's last known condition, from its latest readings in the store, before any light connects again.
      await restoreLive().then(
        (n) => n > 0 && log.info({ lights: n }, "restored the lights' live conditions from the store"),
        (e: unknown) => log.warn({ err: e }, "could not restore the lights' conditions from the store; each light's next readings decide it"),
      );
      const ports: Started["ports"] = { http: 0 };
      if (embedded) Object.assign(ports, await embedded.start());
      // (the files first: the service's own account is in them)
      if (mosquittoAccounts) await mosquittoAccounts.sync();
      if (failover) await failover.start();
      else if (external) await external.start();
      await http.listen({ host: config.http.host, port: config.http.port });
      ports.http = (http.server.address() as AddressInfo).port;
      // The first admin key and `admin` account only once every listener is open: a start that fails (a port in use)
      // creates neither, so the start that succeeds creates them and prints them (they are shown once, never stored in clear).
      const { created } = await apiKeys.bootstrap(config.adminKey);
      const firstAccount = await accounts.bootstrap(config.adminPassword);
      const startedAt = clock();
      tasks = {
        gauges: () => {
          const stored = Math.min(...Object.values(writer.checkpoints()));
          metrics.spoolRecords.set(Math.max(0, wal.lastSeq() - stored));
          metrics.spoolBytes.set(wal.unstoredBytes());
          metrics.walBytes.set(wal.bytes());
          metrics.storeQueueDepth.set(writer.queued());
          // (judged from the readings this instance takes: a standby hears none, and would call every device silent)
          if (ingesting()) presence.sweep(clock());
          brokerFeed.tick(clock());
          updateGauges();
          return presence.flush();
        },
        // (claimed: once per interval across the instances on one state store; the digest claims its day itself,
        // deliveries their reminders; the rest is this instance's own)
        pruneRejects: claimed("prune rejects", 10 * 60_000, () => state.rejects.pruneRejects()),
        retention: claimed("retention", 3_600_000, runRetention),
        // (a minute after each start, whatever ran this hour: a changed retention applies at once; claimed by this start,
        // so it runs once, while the hourly passes stay one per hour across the instances)
        retentionAfterStart: () => claims.run("retention after start", `${instance} ${startedAt}`, runRetention),
        // (not claimed: the embedded store is this instance's own)
        rollups: async () => {
          const done = await telemetry.rollUp?.(clock(), retentionStop.signal);
          if (done && done.steps > 0) log.debug({ ...done }, "telemetry rollups");
        },
        // (these three judge from the readings and presence this instance holds: only the one taking readings runs them)
        blendingConditions: onlyIngesting(
          claimed("blending conditions", 30_000, async () => blendingFeed.apply(await blendingMonitor.conditions(), clock())),
        ),
        alertDeliveries: () => notifier.tick(),
        digest: () => digest.run(),
        nightly: claimed("nightly records", 5 * 60_000, () => runNightly()),
        neverReported: onlyIngesting(() => streetlights.checkNeverReported()),
        repairProofs: () => fieldwork.checkProofs(),
        // (commands go out through the broker connection of the instance taking readings: only it sends them)
        controlWaves: onlyIngesting(() => control.wave()),
        controlExpiry: onlyIngesting(() => control.expire()),
      };
      scheduleTasks(scheduler, tasks);
      updateGauges();
      const host = config.http.host === "0.0.0.0" || config.http.host === "::" ? "localhost" : config.http.host;
      return {
        httpUrl: `http://${host}:${ports.http}`,
        consoleUrl: webConsole.built ? `http://${host}:${ports.http}/` : null,
        mqttUrl: embedded ? `mqtt://${host}:${ports.mqtt}` : (config.mqtt.external?.url ?? null),
        ports,
        createdAdminKey: created,
        createdAdminPassword: firstAccount?.password ?? null,
      };
    },
    /** SIGTERM: stop accepting, write what was accepted, close. */
    stop(): Promise<void> {
      stopping ??= (async () => {
        const step = async (name: string, fn: () => Promise<unknown> | unknown) => {
          log.debug({ step: name }, "stopping");
          await fn();
        };
        streetlights.halt();
        control.halt();
        retentionStop.abort(); // a retention run under way ends after its current step
        await step("periodic tasks", () => scheduler.stop());
        await step("http", () => http.close());
        // (the connections the broker closes now are not devices going offline: the next start restores what was recorded)
        presence.stop();
        if (embedded) await step("broker", () => embedded.stop());
        if (failover) await step("ingest failover", () => failover.stop());
        else if (external) await step("external broker", () => external.stop());
        mosquittoAccounts?.stop();
        emqxDisconnector?.stop();
        emqxDrops?.stop();
        pipeline.events.off("reading", blendingMonitor.onReading);
        pipeline.events.off("reading", streetlights.onReading);
        pipeline.events.off("reading", onFieldReading);
        pipeline.events.off("reading", control.onReading);
        streetlights.events.off("condition", onCondition);
        await step("write-ahead log", () => wal.close());
        await step("store writer", () => writer.stop());
        await step("blending monitor", () => blendingMonitor.stop());
        notifier.stop();
        await step("worker threads", () => workers.stop());
        await step("presence", () => presence.flush());
        await step("telemetry store", () => telemetry.close());
        await step("state store", () => state.close());
        stopGcObserver();
      })();
      return stopping;
    },
  };
}
export type App = Awaited<ReturnType<typeof createApp>>;
