import { z } from "zod";
import { BLENDER_REPORT_INTERVAL_S, STREETLIGHT_REPORT_INTERVAL_S } from "../../devices/index.js";
import { CONFIG_WORDS, configMessage } from "./config-messages.js";
import { createCatalogue, type Lang, type Message } from "./i18n.js";
import { ISSUE_WORDS, issueMessage } from "./validation.js";

/**
 * All configuration, from AGRILUME_* environment variables and optionally a JSON file
 * (AGRILUME_CONFIG_FILE) with the same keys; the environment wins. Every setting has a
 * default that runs the embedded setup. `loadConfig` is pure.
 */
const port = z.coerce.number().int().min(0).max(65535);
const optPort = z.union([z.literal("").transform(() => undefined), port]).optional();
const positiveInt = z.coerce.number().int().positive();
const boolish = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes");

export const SETTINGS = {
  AGRILUME_CONFIG_FILE: { schema: z.string().optional(), doc: "JSON file with any of these settings; the environment wins" },
  AGRILUME_DATA_DIR: { schema: z.string().min(1).default("./data"), doc: "where the embedded stores and the write-ahead log live" },
  AGRILUME_LANG: { schema: z.enum(["zh", "en"]).default("zh"), doc: "language of printed messages: zh (Chinese) or en" },
  AGRILUME_LOG_LEVEL: {
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    doc: "log level; info prints start-up and state changes only",
  },
  AGRILUME_HTTP_HOST: { schema: z.string().min(1).default("0.0.0.0"), doc: "HTTP listen address" },
  AGRILUME_HTTP_PORT: { schema: port.default(8080), doc: "HTTP API port (0 picks a free port)" },
  AGRILUME_HTTP_REQUEST_TIMEOUT_S: {
    schema: positiveInt.max(3600).default(120),
    doc: "seconds a client has to send a whole request, headers and body; a slower one is answered 408 and closed, and an idle connection is closed after twice this",
  },
  AGRILUME_ADMIN_KEY: {
    schema: z.string().min(24).optional(),
    doc: "an admin API key; if unset, the first start creates one and prints it once",
  },
  AGRILUME_ADMIN_PASSWORD: {
    schema: z.string().min(10).max(200).optional(),
    doc: "the first start's `admin` user account gets this password (to be changed at the first sign-in); if unset, it gets a generated one, printed once",
  },
  AGRILUME_SESSION_IDLE_MIN: {
    schema: positiveInt.max(24 * 60).default(30),
    doc: "a sign-in session unused for this many minutes ends",
  },
  AGRILUME_SESSION_MAX_H: {
    schema: positiveInt.max(30 * 24).default(12),
    doc: "a sign-in session ends this many hours after the sign-in, used or not",
  },
  AGRILUME_LOGIN_MAX_FAILURES: {
    schema: positiveInt.max(100).default(5),
    doc: "failed sign-ins of one account before it is locked (the right password is refused too while locked)",
  },
  AGRILUME_LOGIN_LOCKOUT_S: {
    schema: positiveInt.max(24 * 3600).default(60),
    doc: "how long the first lock lasts; each further failure doubles it, up to 64 times",
  },
  AGRILUME_LOGIN_PER_SOURCE_PER_MIN: {
    schema: positiveInt.max(100_000).default(20),
    doc: "failed sign-in attempts one address may make per minute (a successful one gives its attempt back); past it they are answered 429",
  },
  AGRILUME_INSTANCE_ID: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "hint_instance_id")
      .optional(),
    doc: "this instance's name where several share one InfluxDB or state store (its write-ahead-log checkpoint is its own); unset = an id made on the first start and kept in the data dir (`instance-id`)",
  },
  AGRILUME_STATE_URL: {
    schema: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "hint_postgres_url")
      .optional(),
    doc: "state store (registry, keys, users, alerts, orders, records…): unset = embedded DuckDB in the data dir; a postgres://user:password@host:port/database URL = PostgreSQL, which several instances can share",
  },
  AGRILUME_STORE: { schema: z.enum(["embedded", "influx"]).default("embedded"), doc: "telemetry store: embedded (DuckDB in the data dir) or influx" },
  AGRILUME_INFLUX_URL: {
    schema: z
      .string()
      .regex(/^https?:\/\//, "hint_http_url")
      .default("http://localhost:8086"),
    doc: "InfluxDB v1 HTTP API (1.x natively; 2.x and 3.x through their v1 compatibility API)",
  },
  AGRILUME_INFLUX_DATABASE: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .default("agrilume"),
    doc: "InfluxDB database (2.x: a bucket mapped to it with a DBRP mapping)",
  },
  AGRILUME_INFLUX_USERNAME: { schema: z.string().optional(), doc: "InfluxDB user (1.x with auth enabled)" },
  AGRILUME_INFLUX_PASSWORD: { schema: z.string().optional(), doc: "InfluxDB password" },
  AGRILUME_INFLUX_TOKEN: { schema: z.string().optional(), doc: "InfluxDB 2.x/3.x token (sent as the v1 API password)" },
  AGRILUME_INFLUX_SETUP: {
    schema: boolish.default(true),
    doc: "create the database, retention policies and hourly rollups on start (1.x); false where they are managed elsewhere",
  },
  AGRILUME_INFLUX_RAW_RETENTION: {
    schema: z
      .string()
      .regex(/^\d+[hdw]$/)
      .default("60d"),
    doc: "how long raw readings are kept (at least the 60 days of late data accepted)",
  },
  AGRILUME_INFLUX_ROLLUP_RETENTION: {
    schema: z
      .string()
      .regex(/^\d+[hdw]$/)
      .default("104w"),
    doc: "how long the hourly rollups, and the points derived for dashboards, are kept",
  },
  AGRILUME_EMBEDDED_RAW_RETENTION: {
    schema: z
      .string()
      .regex(/^[1-9]\d{0,4}[dw]$/, "hint_days_weeks")
      .default("60d"),
    doc: "embedded store: how long raw readings are kept (whole China days; older ones are folded into the rollups, then deleted); under 60d, late readings older than it no longer correct their night's record",
  },
  AGRILUME_EMBEDDED_HOURLY_RETENTION: {
    schema: z
      .string()
      .regex(/^[1-9]\d{0,4}[dw]$/, "hint_days_weeks")
      .default("104w"),
    doc: "embedded store: how long the hourly rollups (min, avg, max, last of every field) are kept",
  },
  AGRILUME_EMBEDDED_DAILY_RETENTION: {
    schema: z
      .string()
      .regex(/^([1-9]\d{0,4}[dw]|forever)$/, "hint_days_weeks_forever")
      .default("forever"),
    doc: "embedded store: how long the daily rollups (China days) are kept; forever = for the life of the programme",
  },
  AGRILUME_SPOOL_MAX_MB: {
    schema: positiveInt.max(1_000_000).default(2048),
    doc: "accepted readings waiting for the store (the write-ahead log) at most; beyond it devices are asked to retry",
  },
  AGRILUME_STORE_BATCH_SIZE: { schema: positiveInt.max(100_000).default(5000), doc: "readings per store write" },
  AGRILUME_STORE_FLUSH_MS: { schema: positiveInt.max(60_000).default(200), doc: "longest wait before a partial batch is written" },
  AGRILUME_MQTT_HOST: { schema: z.string().min(1).default("0.0.0.0"), doc: "embedded broker listen address" },
  AGRILUME_MQTT_PORT: { schema: port.default(1883), doc: "embedded broker MQTT port (0 picks a free port)" },
  AGRILUME_MQTT_WS_PORT: { schema: optPort, doc: "MQTT over WebSocket port; unset = off" },
  AGRILUME_MQTT_TLS_PORT: { schema: optPort, doc: "MQTT over TLS port; needs the certificate and key" },
  AGRILUME_MQTT_TLS_CERT: { schema: z.string().optional(), doc: "PEM certificate file for the TLS listener" },
  AGRILUME_MQTT_TLS_KEY: { schema: z.string().optional(), doc: "PEM private key file for the TLS listener" },
  AGRILUME_MQTT_URL: {
    schema: z
      .string()
      .regex(/^(mqtts?|wss?|tcp):\/\//, "hint_mqtt_url")
      .optional(),
    doc: "external broker; when set, no embedded broker runs",
  },
  AGRILUME_MQTT_USERNAME: { schema: z.string().optional(), doc: "external broker user" },
  AGRILUME_MQTT_PASSWORD: { schema: z.string().optional(), doc: "external broker password" },
  AGRILUME_MQTT_CLIENT_ID: { schema: z.string().min(1).max(64).default("agrilume-ingest"), doc: "external broker client id (persistent session)" },
  AGRILUME_MQTT_PROTOCOL: { schema: z.enum(["4", "5"]).default("5"), doc: "external broker MQTT version: 5 (shared subscriptions) or 4 (3.1.1)" },
  AGRILUME_MQTT_SHARED_GROUP: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9_-]*$/)
      .default("agrilume"),
    doc: "MQTT 5 shared-subscription group, so several instances share the load; empty = plain subscription. Not high availability: the broker strands a dead member's share in its session (docs/DEPLOYMENT.md); ignored with AGRILUME_INGEST_FAILOVER=lease",
  },
  AGRILUME_INGEST_FAILOVER: {
    schema: z.enum(["off", "lease"]).default("off"),
    doc: "several instances behind one external broker: `lease` = active/standby ingest, the holder of a PostgreSQL advisory lock takes the readings through the one persistent session (AGRILUME_MQTT_CLIENT_ID, plain subscription) and a standby takes over when it dies (docs/DEPLOYMENT.md); needs AGRILUME_MQTT_URL and a postgres:// AGRILUME_STATE_URL; off = each instance subscribes itself",
  },
  AGRILUME_MQTT_IN_FLIGHT: {
    schema: positiveInt.max(65535).default(1000),
    doc: "external broker: QoS 1 messages taken at once, each acknowledged once the log holds it (MQTT 5 receive maximum), so the log's group commit batches them",
  },
  AGRILUME_MOSQUITTO_PASSWORD_FILE: {
    schema: z.string().min(1).optional(),
    doc: "external Mosquitto: Agrilume writes this `password_file` from its registry (every enabled device and the service's own account) and keeps it in step; needs AGRILUME_MOSQUITTO_ACL_FILE, AGRILUME_MQTT_USERNAME and AGRILUME_MQTT_PASSWORD",
  },
  AGRILUME_MOSQUITTO_ACL_FILE: {
    schema: z.string().min(1).optional(),
    doc: "external Mosquitto: Agrilume writes this `acl_file` (each device its own topics; the service its own) beside the password file",
  },
  AGRILUME_MOSQUITTO_PID_FILE: {
    schema: z.string().min(1).optional(),
    doc: "external Mosquitto: its `pid_file`; after each write Agrilume sends that process SIGHUP so it reads both files again (it must be allowed to signal it: same user, or root); unset = only write the files (reload the broker another way, e.g. a systemd path unit)",
  },
  AGRILUME_EMQX_AUTH_SECRET: {
    schema: z.string().min(24).optional(),
    doc: "EMQX: the shared secret EMQX's HTTP authenticator and authorizer send in the `x-agrilume-broker-secret` header; unset = the endpoints /api/v1/broker/emqx/* answer 404",
  },
  AGRILUME_EMQX_API_URL: {
    schema: z
      .string()
      .regex(/^https?:\/\//, "hint_http_url")
      .optional(),
    doc: "EMQX's REST API (e.g. http://emqx:18083): a device disabled or given a new secret is disconnected through it (DELETE /api/v5/clients/{id}), and its drop count read every 30 s (GET /api/v5/metrics: delivery.dropped, the broker_dropped alert)",
  },
  AGRILUME_EMQX_API_KEY: { schema: z.string().min(1).optional(), doc: "EMQX REST API key (made in EMQX's dashboard, System → API Key)" },
  AGRILUME_EMQX_API_SECRET: { schema: z.string().min(1).optional(), doc: "EMQX REST API secret key of that key" },
  AGRILUME_MAX_PAYLOAD_BYTES: { schema: positiveInt.max(1 << 20).default(64 * 1024), doc: "larger payloads are rejected (and kept, truncated)" },
  AGRILUME_MAX_PACKET_BYTES: {
    schema: positiveInt.max(256 << 20).default(2 << 20),
    doc: "an MQTT packet larger than this closes the connection before it is buffered",
  },
  AGRILUME_REJECT_LIMIT: { schema: positiveInt.default(60), doc: "rejected messages a device may send per minute before it is disconnected" },
  AGRILUME_AUTH_PER_SOURCE_PER_MIN: {
    schema: positiveInt.default(300),
    doc: "failed credential checks (scrypt) one address may cause per minute; a right secret gives its check back, and devices already proved since start need none; past it a CONNECT is refused as server unavailable",
  },
  AGRILUME_MQTT_REFUSE_DELAY_MS: {
    schema: z.coerce.number().int().min(0).max(10_000).default(1000),
    doc: "a refused CONNECT (wrong or unknown credentials, a spent budget, a reconnect storm, a ban) is answered after this pause, so a client that retries at once costs one CONNECT per pause instead of thousands; 0 answers at once",
  },
  AGRILUME_REJECT_BAN_S: { schema: positiveInt.default(60), doc: "how long a device disconnected for flooding is refused" },
  AGRILUME_STREETLIGHT_REPORT_S: {
    schema: positiveInt.default(STREETLIGHT_REPORT_INTERVAL_S),
    doc: "streetlight report interval; 3× silence = offline",
  },
  AGRILUME_BLENDER_REPORT_S: {
    schema: positiveInt.default(BLENDER_REPORT_INTERVAL_S),
    doc: "blending-machine report interval; 3× silence = offline",
  },
  AGRILUME_VERIFY_LOCATION_M: {
    schema: z.coerce.number().positive().max(1000).default(15),
    doc: "verification: reported fix within this of the claimed pole (DOMAIN.md §1–2: 15 m)",
  },
  AGRILUME_VERIFY_DUPLICATE_POLE_M: {
    schema: z.coerce.number().positive().max(100).default(10),
    doc: "verification: two claims closer than this are a possible duplicate pole (DOMAIN.md §2: 10 m)",
  },
  AGRILUME_VERIFY_LIT_NIGHTS: {
    schema: z.coerce
      .number()
      .positive()
      .max(1)
      .default(25 / 30),
    doc: "verification: share of nights lit for ≥ 80 % of the window (DOMAIN.md §2: 25 of 30)",
  },
  AGRILUME_VERIFY_PV_DAYS: {
    schema: z.coerce.number().positive().max(1).default(0.8),
    doc: "verification: share of days with PV generation (DOMAIN.md §2: 80 %)",
  },
  AGRILUME_VERIFY_PV_WH: {
    schema: z.coerce.number().min(0).default(20),
    doc: "verification: a day counts as generating above this many Wh (proposal)",
  },
  AGRILUME_VERIFY_SILENT_H: {
    schema: z.coerce.number().positive().default(72),
    doc: "verification: silent longer than this is 'to visit', not failed (DOMAIN.md §2: 72 h)",
  },
  AGRILUME_VERIFY_SAMPLE_PCT: {
    schema: z.coerce.number().min(0).max(100).default(10),
    doc: "verification: verified lights sampled per town for field visits (DOMAIN.md §2: at least 10 %)",
  },
  AGRILUME_ALERT_GROUP_S: {
    schema: positiveInt.max(3600).default(60),
    doc: "alerts of one town or station starting within this many seconds go out as one message",
  },
  AGRILUME_NEVER_REPORTED_H: {
    schema: z.coerce.number().positive().default(72),
    doc: "a light registered and past its installation day (installedOn, else the day it was registered) by this many hours without ever connecting is offline, with an alert (a phantom until proven otherwise; proposal, like verification's 72 h)",
  },
  AGRILUME_CONTROL_RATE_PER_S: {
    schema: positiveInt.max(10_000).default(50),
    doc: "streetlight campaigns send at most this many commands a second, all campaigns together (a district's 18,105 lights in about 6 minutes at 50)",
  },
  AGRILUME_CONTROL_EXPIRY_H: {
    schema: z.coerce
      .number()
      .positive()
      .max(24 * 90)
      .default(72),
    doc: "a command to a light (and a campaign's) waits this many hours for a light that is offline, then expires unapplied",
  },
  AGRILUME_CONTROL_CLOCK_TOLERANCE_S: {
    schema: positiveInt.max(86_400).default(120),
    doc: "a light whose clock (the `clock` of its answers, protocol v1.1) is off by more than this many seconds is sent the time (at most once an hour)",
  },
  AGRILUME_CONTROL_COMMAND_RETENTION: {
    schema: z
      .string()
      .regex(/^[1-9]\d{0,4}[dw]$/, "hint_days_weeks")
      .refine((s) => durationMs(s) >= 90 * 86_400_000, "hint_control_retention_min")
      .default("400d"),
    doc: "finished commands to lights (applied, rejected, expired, cancelled) are deleted this long after their answer, with the campaigns left empty and the profiles a light stopped running before then; the audit of control for a year's subsidy review and its appeals",
  },
  AGRILUME_ALERT_REMIND_MIN: {
    schema: positiveInt.max(7 * 24 * 60).default(120),
    doc: "a firing alert nobody acknowledged is sent again after this many minutes",
  },
  AGRILUME_IMPORT_MAX_ROWS: {
    schema: positiveInt.max(10_000_000).default(100_000),
    doc: "rows a claims or device import may hold; a longer file is refused whole (422 `import_too_many_rows`); each import's body limit is 256 bytes a row (8 MiB at least), an XLSX's entries may inflate to 2 KiB a row (plus 16 MiB)",
  },
  AGRILUME_FIELD_DUE_CRITICAL_H: {
    schema: z.coerce
      .number()
      .positive()
      .max(24 * 90)
      .default(24),
    doc: "field work: a work order of critical priority (a village outage) is due this many hours after it is made",
  },
  AGRILUME_FIELD_DUE_MAJOR_H: {
    schema: z.coerce
      .number()
      .positive()
      .max(24 * 90)
      .default(72),
    doc: "field work: a work order of major priority (a dark light) is due this many hours after it is made",
  },
  AGRILUME_FIELD_DUE_MINOR_H: {
    schema: z.coerce
      .number()
      .positive()
      .max(24 * 90)
      .default(168),
    doc: "field work: a work order of minor priority is due this many hours after it is made",
  },
  AGRILUME_FIELD_CHECKIN_FLAG_M: {
    schema: z.coerce.number().positive().max(100_000).default(100),
    doc: "field work: a check-in further than this from the order's nearest pole is recorded and flagged",
  },
  AGRILUME_FIELD_CHECKIN_MAX_M: {
    schema: z.coerce.number().positive().max(100_000).default(1000),
    doc: "field work: a check-in further than this from the order's nearest pole is refused (the phone is not at the pole)",
  },
  AGRILUME_FIELD_PHOTO_MAX_KB: {
    schema: positiveInt.max(20 * 1024).default(3072),
    doc: "field work: the largest photo accepted, in KiB (phones resize before sending)",
  },
  AGRILUME_FIELD_PROOF_READINGS: {
    schema: positiveInt.max(100).default(3),
    doc: "field work: faulty readings in a row after a repair that reopen its work order",
  },
  AGRILUME_FIELD_PROOF_WINDOW_H: {
    schema: z.coerce
      .number()
      .positive()
      .max(24 * 30)
      .default(48),
    doc: "field work: a repaired light that sends no reading within this many hours reopens its work order",
  },
  AGRILUME_MAP_TILE_URL: {
    schema: z
      .string()
      .regex(/^https?:\/\/[^/]+\/.*\{z\}.*/, "hint_tile_url")
      .refine((u) => u.includes("{x}") && u.includes("{y}"), "hint_tile_url")
      .optional(),
    doc: "console map: a base map's tile URL ({z}/{x}/{y}, Web Mercator; {s} for a subdomain; a key as the tile server wants it, e.g. Tianditu's tk=). None by default: the map works offline. The console's content policy lets the page load images from its host only when set",
  },
  AGRILUME_MAP_TILE_SUBDOMAINS: {
    schema: z
      .string()
      .regex(/^[a-z0-9]{1,16}$/i, "hint_tile_subdomains")
      .default("abc"),
    doc: "console map: the characters {s} in AGRILUME_MAP_TILE_URL takes in turn (Tianditu: 01234567)",
  },
  AGRILUME_MAP_TILE_ATTRIBUTION: {
    schema: z.string().max(200).default(""),
    doc: "console map: the base map's attribution, shown under the map (e.g. ©天地图)",
  },
  AGRILUME_TRUST_PROXY: { schema: boolish.default(false), doc: "trust X-Forwarded-* headers from a reverse proxy" },
} as const;

type Settings = typeof SETTINGS;

/**
 * What an import (a claims list, a device list) may cost, from its row limit: its body (a claims row of this district's
 * ids and names is ~120 bytes of CSV, ~70 of XLSX: docs/BENCHMARKS.md), and an XLSX's entries, read from the zip's
 * central directory before anything is inflated (a workbook's sheet and shared strings are ~700 bytes a row).
 */
export function importLimits(maxRows: number) {
  return {
    maxRows,
    bodyLimitBytes: Math.max(8 * 1024 * 1024, maxRows * 256),
    xlsx: { maxEntries: 1000, maxUncompressedBytes: 16 * 1024 * 1024 + maxRows * 2048 },
  };
}
export type ImportLimits = ReturnType<typeof importLimits>;

const FlatSchema = z.object(
  Object.fromEntries(Object.entries(SETTINGS).map(([k, v]) => [k, v.schema])) as { [K in keyof Settings]: Settings[K]["schema"] },
);

type Flat = z.output<typeof FlatSchema>;
export type Config = Readonly<ReturnType<typeof shape>>;

/** "60d", "104w" in milliseconds (the forms the retention settings take). */
const durationMs = (s: string) => Number.parseInt(s, 10) * (s.endsWith("w") ? 7 : 1) * 86_400_000;

function shape(f: Flat) {
  return {
    dataDir: f.AGRILUME_DATA_DIR,
    instanceId: f.AGRILUME_INSTANCE_ID,
    stateUrl: f.AGRILUME_STATE_URL,
    lang: f.AGRILUME_LANG,
    log: { level: f.AGRILUME_LOG_LEVEL },
    http: {
      host: f.AGRILUME_HTTP_HOST,
      port: f.AGRILUME_HTTP_PORT,
      trustProxy: f.AGRILUME_TRUST_PROXY,
      requestTimeoutMs: f.AGRILUME_HTTP_REQUEST_TIMEOUT_S * 1000,
    },
    adminKey: f.AGRILUME_ADMIN_KEY,
    adminPassword: f.AGRILUME_ADMIN_PASSWORD,
    accounts: {
      sessionIdleMs: f.AGRILUME_SESSION_IDLE_MIN * 60_000,
      sessionMaxMs: f.AGRILUME_SESSION_MAX_H * 3_600_000,
      maxFailures: f.AGRILUME_LOGIN_MAX_FAILURES,
      lockoutMs: f.AGRILUME_LOGIN_LOCKOUT_S * 1000,
      loginsPerSourcePerMinute: f.AGRILUME_LOGIN_PER_SOURCE_PER_MIN,
    },
    store: {
      kind: f.AGRILUME_STORE,
      batchSize: f.AGRILUME_STORE_BATCH_SIZE,
      flushMs: f.AGRILUME_STORE_FLUSH_MS,
      spoolMaxBytes: f.AGRILUME_SPOOL_MAX_MB * 1024 * 1024,
      retention: {
        rawMs: durationMs(f.AGRILUME_EMBEDDED_RAW_RETENTION),
        hourlyMs: durationMs(f.AGRILUME_EMBEDDED_HOURLY_RETENTION),
        dailyMs: f.AGRILUME_EMBEDDED_DAILY_RETENTION === "forever" ? null : durationMs(f.AGRILUME_EMBEDDED_DAILY_RETENTION),
      },
      influx: {
        url: f.AGRILUME_INFLUX_URL,
        database: f.AGRILUME_INFLUX_DATABASE,
        username: f.AGRILUME_INFLUX_TOKEN ? (f.AGRILUME_INFLUX_USERNAME ?? "agrilume") : f.AGRILUME_INFLUX_USERNAME,
        password: f.AGRILUME_INFLUX_TOKEN ?? f.AGRILUME_INFLUX_PASSWORD,
        setup: f.AGRILUME_INFLUX_SETUP,
        rawRetention: f.AGRILUME_INFLUX_RAW_RETENTION,
        rollupRetention: f.AGRILUME_INFLUX_ROLLUP_RETENTION,
      },
    },
    mqtt: {
      host: f.AGRILUME_MQTT_HOST,
      port: f.AGRILUME_MQTT_PORT,
      wsPort: f.AGRILUME_MQTT_WS_PORT,
      tls:
        f.AGRILUME_MQTT_TLS_PORT !== undefined && f.AGRILUME_MQTT_TLS_CERT && f.AGRILUME_MQTT_TLS_KEY
          ? { port: f.AGRILUME_MQTT_TLS_PORT, certFile: f.AGRILUME_MQTT_TLS_CERT, keyFile: f.AGRILUME_MQTT_TLS_KEY }
          : undefined,
      external: f.AGRILUME_MQTT_URL
        ? {
            url: f.AGRILUME_MQTT_URL,
            username: f.AGRILUME_MQTT_USERNAME,
            password: f.AGRILUME_MQTT_PASSWORD,
            clientId: f.AGRILUME_MQTT_CLIENT_ID,
            protocolVersion: Number(f.AGRILUME_MQTT_PROTOCOL) as 4 | 5,
            // (active/standby: one subscriber, the lease holder, on the one session; a shared group would strand queues)
            sharedGroup: f.AGRILUME_INGEST_FAILOVER === "lease" ? "" : f.AGRILUME_MQTT_SHARED_GROUP,
            inFlight: f.AGRILUME_MQTT_IN_FLIGHT,
            failover: f.AGRILUME_INGEST_FAILOVER,
          }
        : undefined,
      mosquitto:
        f.AGRILUME_MOSQUITTO_PASSWORD_FILE && f.AGRILUME_MOSQUITTO_ACL_FILE && f.AGRILUME_MQTT_USERNAME && f.AGRILUME_MQTT_PASSWORD
          ? {
              passwordFile: f.AGRILUME_MOSQUITTO_PASSWORD_FILE,
              aclFile: f.AGRILUME_MOSQUITTO_ACL_FILE,
              pidFile: f.AGRILUME_MOSQUITTO_PID_FILE,
              service: { username: f.AGRILUME_MQTT_USERNAME, password: f.AGRILUME_MQTT_PASSWORD },
            }
          : undefined,
      emqx: {
        authSecret: f.AGRILUME_EMQX_AUTH_SECRET,
        service:
          f.AGRILUME_MQTT_USERNAME && f.AGRILUME_MQTT_PASSWORD
            ? { username: f.AGRILUME_MQTT_USERNAME, password: f.AGRILUME_MQTT_PASSWORD }
            : undefined,
        api:
          f.AGRILUME_EMQX_API_URL && f.AGRILUME_EMQX_API_KEY && f.AGRILUME_EMQX_API_SECRET
            ? { url: f.AGRILUME_EMQX_API_URL.replace(/\/+$/, ""), key: f.AGRILUME_EMQX_API_KEY, secret: f.AGRILUME_EMQX_API_SECRET }
            : undefined,
      },
    },
    imports: importLimits(f.AGRILUME_IMPORT_MAX_ROWS),
    alerts: { groupMs: f.AGRILUME_ALERT_GROUP_S * 1000, remindMs: f.AGRILUME_ALERT_REMIND_MIN * 60_000 },
    neverReportedMs: f.AGRILUME_NEVER_REPORTED_H * 3600_000,
    fieldwork: {
      dueH: { critical: f.AGRILUME_FIELD_DUE_CRITICAL_H, major: f.AGRILUME_FIELD_DUE_MAJOR_H, minor: f.AGRILUME_FIELD_DUE_MINOR_H },
      checkInFlagM: f.AGRILUME_FIELD_CHECKIN_FLAG_M,
      checkInMaxM: f.AGRILUME_FIELD_CHECKIN_MAX_M,
      photoMaxBytes: f.AGRILUME_FIELD_PHOTO_MAX_KB * 1024,
      proofBadReadings: f.AGRILUME_FIELD_PROOF_READINGS,
      proofWindowMs: f.AGRILUME_FIELD_PROOF_WINDOW_H * 3600_000,
    },
    mapTiles: f.AGRILUME_MAP_TILE_URL
      ? { url: f.AGRILUME_MAP_TILE_URL, subdomains: f.AGRILUME_MAP_TILE_SUBDOMAINS, attribution: f.AGRILUME_MAP_TILE_ATTRIBUTION }
      : null,
    control: {
      ratePerS: f.AGRILUME_CONTROL_RATE_PER_S,
      expiryMs: f.AGRILUME_CONTROL_EXPIRY_H * 3600_000,
      clockToleranceMs: f.AGRILUME_CONTROL_CLOCK_TOLERANCE_S * 1000,
      commandRetentionMs: durationMs(f.AGRILUME_CONTROL_COMMAND_RETENTION),
    },
    verification: {
      locationM: f.AGRILUME_VERIFY_LOCATION_M,
      duplicatePoleM: f.AGRILUME_VERIFY_DUPLICATE_POLE_M,
      litNightsShare: f.AGRILUME_VERIFY_LIT_NIGHTS,
      pvDaysShare: f.AGRILUME_VERIFY_PV_DAYS,
      pvWh: f.AGRILUME_VERIFY_PV_WH,
      silentH: f.AGRILUME_VERIFY_SILENT_H,
      samplePct: f.AGRILUME_VERIFY_SAMPLE_PCT,
    },
    ingest: {
      maxPayloadBytes: f.AGRILUME_MAX_PAYLOAD_BYTES,
      maxPacketBytes: f.AGRILUME_MAX_PACKET_BYTES,
      rejectLimitPerMinute: f.AGRILUME_REJECT_LIMIT,
      banMs: f.AGRILUME_REJECT_BAN_S * 1000,
      authPerSourcePerMinute: f.AGRILUME_AUTH_PER_SOURCE_PER_MIN,
      refuseDelayMs: f.AGRILUME_MQTT_REFUSE_DELAY_MS,
      reportIntervalS: { streetlight: f.AGRILUME_STREETLIGHT_REPORT_S, blender: f.AGRILUME_BLENDER_REPORT_S },
    },
  };
}

/** `problems`: why, as codes and parameters; `errors`: the same in the configuration's language (AGRILUME_LANG, zh by default). */
export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: Message[]; errors: string[] };

const configText = createCatalogue({ config: CONFIG_WORDS, issues: ISSUE_WORDS });

/**
 * Pure: the same inputs give the same result. `file` is the parsed JSON of AGRILUME_CONFIG_FILE, if any.
 * Unknown AGRILUME_* names are errors, so a typo cannot silently fall back to a default.
 */
export function loadConfig(env: Record<string, string | undefined>, file: Record<string, unknown> = {}): ConfigResult {
  const problems: Message[] = [];
  const raw: Record<string, unknown> = {};
  for (const [source, values] of [
    ["file", file],
    ["env", env],
  ] as const) {
    for (const [key, value] of Object.entries(values)) {
      if (!key.startsWith("AGRILUME_")) {
        if (source === "file") problems.push(configMessage("config_not_agrilume", { setting: key }));
        continue;
      }
      if (!(key in SETTINGS)) {
        problems.push(configMessage("config_unknown_setting", { setting: key }));
        continue;
      }
      if (value === undefined) continue;
      raw[key] = typeof value === "string" ? value : String(value);
    }
  }
  const lang: Lang = raw.AGRILUME_LANG === "en" ? "en" : "zh";
  const parsed = FlatSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(issueMessage(issue));
  } else {
    const f = parsed.data;
    const together = (settings: [string, unknown][]) => {
      const set = settings.filter(([, v]) => v !== undefined);
      if (set.length > 0 && set.length < settings.length)
        problems.push(configMessage("config_together", { setting: set[0]?.[0] ?? "", settings: settings.map(([k]) => k) }));
    };
    together([
      ["AGRILUME_MQTT_TLS_PORT", f.AGRILUME_MQTT_TLS_PORT],
      ["AGRILUME_MQTT_TLS_CERT", f.AGRILUME_MQTT_TLS_CERT],
      ["AGRILUME_MQTT_TLS_KEY", f.AGRILUME_MQTT_TLS_KEY],
    ]);
    const mosquitto = [f.AGRILUME_MOSQUITTO_PASSWORD_FILE, f.AGRILUME_MOSQUITTO_ACL_FILE];
    if (mosquitto.some((v) => v !== undefined) && mosquitto.some((v) => v === undefined)) {
      problems.push(configMessage("config_mosquitto_acl", { setting: "AGRILUME_MOSQUITTO_PASSWORD_FILE", other: "AGRILUME_MOSQUITTO_ACL_FILE" }));
    }
    if (f.AGRILUME_MOSQUITTO_PASSWORD_FILE && !(f.AGRILUME_MQTT_URL && f.AGRILUME_MQTT_USERNAME && f.AGRILUME_MQTT_PASSWORD)) {
      problems.push(
        configMessage("config_mosquitto_account", {
          setting: "AGRILUME_MOSQUITTO_PASSWORD_FILE",
          settings: ["AGRILUME_MQTT_URL", "AGRILUME_MQTT_USERNAME", "AGRILUME_MQTT_PASSWORD"],
        }),
      );
    }
    if (f.AGRILUME_INGEST_FAILOVER === "lease" && !(f.AGRILUME_MQTT_URL && f.AGRILUME_STATE_URL?.startsWith("postgres"))) {
      problems.push(
        configMessage("config_failover_lease", {
          setting: "AGRILUME_INGEST_FAILOVER",
          settings: ["AGRILUME_MQTT_URL", "AGRILUME_STATE_URL (postgres://)"],
        }),
      );
    }
    if (f.AGRILUME_MOSQUITTO_PID_FILE && !f.AGRILUME_MOSQUITTO_PASSWORD_FILE) {
      problems.push(
        configMessage("config_only_with", {
          setting: "AGRILUME_MOSQUITTO_PID_FILE",
          settings: ["AGRILUME_MOSQUITTO_PASSWORD_FILE", "AGRILUME_MOSQUITTO_ACL_FILE"],
        }),
      );
    }
    together([
      ["AGRILUME_EMQX_API_URL", f.AGRILUME_EMQX_API_URL],
      ["AGRILUME_EMQX_API_KEY", f.AGRILUME_EMQX_API_KEY],
      ["AGRILUME_EMQX_API_SECRET", f.AGRILUME_EMQX_API_SECRET],
    ]);
    const ports = [
      ["AGRILUME_HTTP_PORT", f.AGRILUME_HTTP_PORT],
      ["AGRILUME_MQTT_PORT", f.AGRILUME_MQTT_URL ? undefined : f.AGRILUME_MQTT_PORT],
      ["AGRILUME_MQTT_WS_PORT", f.AGRILUME_MQTT_WS_PORT],
      ["AGRILUME_MQTT_TLS_PORT", f.AGRILUME_MQTT_TLS_PORT],
    ].filter((p): p is [string, number] => typeof p[1] === "number" && p[1] !== 0);
    const seen = new Map<number, string>();
    for (const [name, p] of ports) {
      const other = seen.get(p);
      if (other) problems.push(configMessage("config_port_clash", { setting: name, port: p, other }));
      seen.set(p, name);
    }
    if (problems.length === 0) return { ok: true, config: deepFreeze(shape(f)) };
  }
  return { ok: false, problems, errors: problems.map((m) => configText.render(lang, m)) };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
