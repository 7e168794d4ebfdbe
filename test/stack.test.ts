import { existsSync, readdirSync, readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { numericFields } from "../devices/index.js";
import { type GrafanaDashboard, type GrafanaPanel, influxQuery, substitute } from "../harness/grafana.js";
import { reading } from "../harness/helpers.js";
import { INFLUXD, type Influx, serviceAvailable, startInflux } from "../harness/services.js";
import { loadConfig } from "../src/platform/config.js";
import { createLogger } from "../src/platform/log.js";
import { DASHBOARD_POINTS } from "../src/storage/dashboard-points.js";
import { createInfluxTelemetryStore } from "../src/storage/influx-telemetry.js";

type Service = {
  image?: string;
  build?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: unknown;
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  pid?: string;
  entrypoint?: string[];
  command?: string[];
};
type Compose = { services: Record<string, Service>; volumes: Record<string, unknown> };
// (merge keys: the HA profile's second instance is the first's with its own id, port and data)
const compose = parse(readFileSync("docker-compose.yml", "utf8"), { merge: true }) as Compose;
/** The services `docker compose up` starts: those in no profile. */
const single = Object.fromEntries(Object.entries(compose.services).filter(([, s]) => !s.profiles));
/** The placeholder values of `${VAR:?…}` for a configuration check. */
const envOf = (s: Service | undefined) =>
  Object.fromEntries(
    Object.entries(s?.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{[^}]+\}/g, "an-admin-key-of-at-least-24-characters")]),
  );

describe("docker-compose.yml", () => {
  it("has InfluxDB 1.x, Grafana and the service, each with a health check", () => {
    expect(Object.keys(single).sort()).toEqual(["agrilume", "grafana", "influxdb"]);
    expect(compose.services.influxdb?.image).toMatch(/^influxdb:1\./);
    expect(compose.services.agrilume?.build).toBe(".");
    for (const s of Object.values(compose.services)) expect(s.healthcheck).toBeDefined();
    expect(compose.services.agrilume?.ports).toEqual(expect.arrayContaining(["1883:1883", "8080:8080"]));
  });
  it("mounts only files that exist", () => {
    const mounts = Object.values(compose.services)
      .flatMap((s) => s.volumes ?? [])
      .filter((v) => v.startsWith("./"));
    expect(mounts.length).toBeGreaterThan(0);
    for (const m of mounts) expect(existsSync(m.split(":")[0] as string), m).toBe(true);
    expect(existsSync("Dockerfile")).toBe(true);
  });
  it("builds its image only from files that exist, the service and the web console in a stage that has every dependency", () => {
    const dockerfile = readFileSync("Dockerfile", "utf8");
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] as string).split(" "));
    expect(copies).toEqual(expect.arrayContaining(["package.json", "package-lock.json", "web", "src", "devices"]));
    for (const c of copies) expect(existsSync(c), c).toBe(true);
    // The build stage's dist: the compiled service and, in dist/web/dist, the console (test/dockerfile.test.ts carries both stages out).
    expect(dockerfile).toContain("COPY --from=build /app/dist ./dist");
  });
  it("configures the service for InfluxDB with settings that pass the configuration schema", () => {
    const r = loadConfig(envOf(compose.services.agrilume));
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.ok && r.config.store).toMatchObject({ kind: "influx", influx: { url: "http://influxdb:8086", database: "agrilume" } });
  });
  it("profile ha: two instances on active/standby ingest, a PostgreSQL primary and standby, one Mosquitto, the same InfluxDB", () => {
    const ha = Object.fromEntries(Object.entries(compose.services).filter(([, s]) => s.profiles?.includes("ha")));
    expect(Object.keys(ha).sort()).toEqual(["agrilume-a", "agrilume-b", "mosquitto", "postgres", "postgres-standby"]);
    for (const s of Object.values(ha)) expect(s.healthcheck).toBeDefined();
    const [a, b] = [ha["agrilume-a"], ha["agrilume-b"]];
    const configs = [a, b].map((s) => {
      const r = loadConfig(envOf(s));
      expect(r.ok ? [] : r.errors).toEqual([]);
      if (!r.ok) throw new Error("invalid");
      return r.config;
    });
    const [ca, cb] = configs as [(typeof configs)[0], (typeof configs)[0]];
    // One lease, one session: the same client id, state store, broker and telemetry store; each its own id and log.
    for (const c of [ca, cb]) {
      expect(c.mqtt.external).toMatchObject({ url: "mqtt://mosquitto:1883", clientId: "agrilume-ingest", failover: "lease", sharedGroup: "" });
      expect(c.stateUrl).toMatch(/^postgres:\/\/agrilume:.+@postgres:5432\/agrilume$/);
      expect(c.store).toMatchObject({ kind: "influx", influx: { url: "http://influxdb:8086" } });
    }
    expect(ca.mqtt.external?.clientId).toBe(cb.mqtt.external?.clientId);
    expect(ca.instanceId).toBe("district-a");
    expect(cb.instanceId).toBe("district-b");
    const dataVolume = (s: Service | undefined) => s?.volumes?.find((v) => v.endsWith(":/data"));
    expect(dataVolume(a)).toBe("agrilume-a-data:/data");
    expect(dataVolume(b)).toBe("agrilume-b-data:/data");
    for (const s of [a, b]) {
      expect(Object.keys(s?.depends_on ?? {}).sort()).toEqual(["influxdb", "mosquitto", "postgres"]);
      expect(s?.pid).toBe("service:mosquitto");
    }
    // The services started together (docker compose --profile ha up agrilume-a agrilume-b postgres-standby grafana)
    // publish each host port once, and every named volume is declared.
    const started = ["agrilume-a", "agrilume-b", "postgres-standby", "grafana", "postgres", "mosquitto", "influxdb"];
    const hostPorts = started.flatMap((n) => (compose.services[n]?.ports ?? []).map((p) => p.split(":")[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    for (const s of Object.values(compose.services))
      for (const v of s.volumes ?? []) if (!v.startsWith("./")) expect(compose.volumes, v).toHaveProperty(v.split(":")[0] as string);
    // Mosquitto: its configuration is the documented one's with the accounts where the instances write them.
    const conf = readFileSync("docs/deploy/mosquitto-ha.conf", "utf8");
    expect(ha.mosquitto?.volumes).toContain("./docs/deploy/mosquitto-ha.conf:/mosquitto/config/mosquitto.conf:ro");
    expect(conf).toContain(`password_file ${ca.mqtt.mosquitto?.passwordFile}`);
    expect(conf).toContain(`acl_file ${ca.mqtt.mosquitto?.aclFile}`);
    expect(conf).toContain(`pid_file ${ca.mqtt.mosquitto?.pidFile}`);
    expect(conf).toMatch(/^persistence true$/m);
    // PostgreSQL: the standby streams from the primary (a base backup with -R on its first start).
    expect(readFileSync("docs/deploy/postgres-standby.sh", "utf8")).toContain('pg_basebackup -h postgres -U replicator -D "$PGDATA" -R');
    expect(ha.postgres?.command).toEqual(expect.arrayContaining(["wal_level=replica"]));
  });
  it("provisions the datasource the dashboards use and the dashboards folder it mounts", () => {
    const ds = parse(readFileSync("grafana/provisioning/datasources/influxdb.yml", "utf8")) as { datasources: { uid: string; database: string }[] };
    expect(ds.datasources[0]).toMatchObject({ uid: "agrilume-influx", database: "agrilume" });
    const dp = parse(readFileSync("grafana/provisioning/dashboards/agrilume.yml", "utf8")) as { providers: { options: { path: string } }[] };
    expect(compose.services.grafana?.volumes).toContain(`./dashboards:${dp.providers[0]?.options.path}:ro`);
  });
});

/**
 * Grafana's own schema for the version docker-compose.yml runs (the Grafana Foundation SDK's JSON Schemas, vendored in
 * test/fixtures/grafana-schema with their source): the dashboard model, each panel type's options and field config,
 * and the unit ids. Three places where the generated schema is narrower than Grafana itself are widened, each to what
 * Grafana's own model says: CUE's "any" comes out as "object" for a matcher's options (byName takes a string) and an
 * override's value (a number, a string, a list), and a threshold's value is null for the base step ("Nulls currently
 * appear here when serializing -Infinity to JSON", the schema's own description).
 */
const SCHEMA_DIR = "test/fixtures/grafana-schema";
const grafanaSchema = (name: string) =>
  JSON.parse(readFileSync(`${SCHEMA_DIR}/${name}.jsonschema.json`, "utf8")) as { definitions: Record<string, Record<string, unknown>> };
const GRAFANA_VERSION = /^grafana\/grafana:(\d+\.\d+)\./.exec(compose.services.grafana?.image ?? "")?.[1];
const ajv = new Ajv({ allErrors: true, strict: false });
const dashboardSchema = (() => {
  const s = grafanaSchema("dashboard");
  const d = s.definitions as Record<string, { properties: Record<string, unknown> }>;
  (d.MatcherConfig as { properties: Record<string, unknown> }).properties.options = { description: "any: the matcher's own" };
  (d.DynamicConfigValue as { properties: Record<string, unknown> }).properties.value = { description: "any: the property's own" };
  (d.Threshold as { properties: Record<string, unknown> }).properties.value = { type: ["number", "null"] };
  return ajv.compile(s);
})();
const panelPart = (type: string, part: "Options" | "FieldConfig") => {
  const s = grafanaSchema(type);
  return s.definitions[part] ? ajv.compile({ ...s, $ref: `#/definitions/${part}` }) : null;
};
/** Grafana's unit ids, and its custom units (prefix:, suffix:, si:, count:, currency:, time:: "Custom units" in Grafana's docs). */
const UNITS = new Set(Object.values(grafanaSchema("units").definitions).map((d) => (d as { const: string }).const));
const unitKnown = (u: string) => UNITS.has(u) || /^(prefix|suffix|si|count|currency|time):\S/.test(u);

const files = readdirSync("dashboards").filter((f) => f.endsWith(".json"));
const dashboards = files.map((f) => ({
  file: f,
  json: JSON.parse(readFileSync(`dashboards/${f}`, "utf8")) as GrafanaDashboard & { timezone: string },
}));
const queriesOf = (json: GrafanaDashboard) => [
  ...json.panels.flatMap((p) => p.targets.map((t) => t.query)),
  ...json.templating.list.filter((v) => v.type === "query").map((v) => v.query),
];

/** What the store writes: device measurements (tags, contract fields) and the derived ones; in the policy "rollup",
 * the hourly rollups of the device measurements (`mean_<field>`…) and the derived points (src/storage/influx-telemetry.ts). */
const DEVICE_TAGS = ["device", "family", "town", "village", "station"];
const sampleFields: Record<string, string[]> = {
  streetlight_telemetry: Object.keys(numericFields(reading(Date.now()))),
  blender_telemetry: ["state", "scaleKg", "mixerA", "bagsTotal", "hopperKg.*"],
};
type Written = { tags: readonly string[]; fields: readonly string[] };
const raw: Record<string, Written> = Object.fromEntries(
  Object.entries(sampleFields).map(([m, f]) => [m, { tags: DEVICE_TAGS, fields: [...f, "payload", "receivedAt"] }]),
);
const schema: Record<"raw" | "rollup", Record<string, Written>> = {
  raw,
  rollup: {
    ...Object.fromEntries(
      Object.entries(raw).map(([m, w]) => [
        m,
        { tags: w.tags, fields: ["mean", "min", "max", "count"].flatMap((a) => w.fields.map((f) => `${a}_${f}`)) },
      ]),
    ),
    ...DASHBOARD_POINTS,
  },
};
const known = (list: readonly string[], name: string) => list.includes(name) || list.some((f) => f.endsWith(".*") && name.startsWith(f.slice(0, -1)));

describe("Grafana dashboards", () => {
  it("three dashboards with stable, distinct uids and the template variables town, village and station", () => {
    expect(files.sort()).toEqual(["blending-station.json", "finance-verification.json", "streetlight-fleet.json"]);
    expect(new Set(dashboards.map((d) => d.json.uid)).size).toBe(3);
    const vars = dashboards.flatMap((d) => d.json.templating.list.map((v) => v.name));
    expect(vars).toEqual(expect.arrayContaining(["town", "village", "station"]));
  });
  it("the vendored schema is Grafana's for the version the compose file runs", () => {
    expect(GRAFANA_VERSION).toBe("11.3");
    expect(readFileSync(`${SCHEMA_DIR}/README.md`, "utf8")).toContain(`v${GRAFANA_VERSION}.x+cog`);
  });
  it.each(dashboards.map((d) => [d.file, d.json] as const))("%s is valid against Grafana's schema, panel options and units included", (_f, json) => {
    expect(dashboardSchema(json) ? [] : dashboardSchema.errors).toEqual([]);
    for (const p of json.panels) {
      const options = panelPart(p.type, "Options");
      expect(options, `${p.type}: a panel type the schema knows`).not.toBeNull();
      expect(options?.(p.options) ? [] : options?.errors, `${p.title} options`).toEqual([]);
      const custom = panelPart(p.type, "FieldConfig");
      if (custom) expect(custom(p.fieldConfig.defaults.custom ?? {}) ? [] : custom.errors, `${p.title} field config`).toEqual([]);
      const units = [
        p.fieldConfig.defaults.unit,
        ...p.fieldConfig.overrides.flatMap((o) => o.properties.filter((x) => x.id === "unit").map((x) => x.value)),
      ];
      for (const u of units) if (u !== undefined) expect(unitKnown(String(u)), `${p.title}: unit ${u}`).toBe(true);
    }
  });
  it.each(dashboards.map((d) => [d.file, d.json] as const))("%s: China time, Chinese titles, our datasource, panels apart", (_f, json) => {
    expect(json.uid).toMatch(/^agrilume-[a-z-]+$/);
    expect(json.title).toMatch(/[\u4e00-\u9fff]/);
    expect(json.timezone).toBe("Asia/Shanghai");
    const cells = new Set<string>();
    for (const p of json.panels as (GrafanaPanel & { gridPos: { x: number; y: number; w: number; h: number }; datasource: { uid: string } })[]) {
      expect(p.title).toMatch(/[\u4e00-\u9fff]/);
      expect(p.datasource.uid).toBe("agrilume-influx");
      for (const t of p.targets as (GrafanaPanel["targets"][number] & { datasource: { uid: string }; rawQuery: boolean })[])
        expect([t.datasource.uid, t.rawQuery]).toEqual(["agrilume-influx", true]);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
    expect(new Set(json.panels.map((p) => p.id)).size).toBe(json.panels.length);
  });
  it.each(dashboards.map((d) => [d.file, d.json] as const))(
    "every query in %s names a retention policy, measurement, tags and fields the store writes",
    (_f, json) => {
      for (const q of queriesOf(json)) {
        const from = [...q.matchAll(/FROM "(raw|rollup)"\."([^"]+)"/g)].map((m) => ({ rp: m[1] as "raw" | "rollup", m: m[2] as string }));
        expect(from.length, q).toBeGreaterThan(0);
        expect(q.replace(/FROM "(raw|rollup)"\."[^"]+"/g, ""), `a measurement without its retention policy: ${q}`).not.toMatch(/FROM "/);
        for (const f of from) expect(Object.keys(schema[f.rp]), `${f.rp}.${f.m} in: ${q}`).toContain(f.m);
        const s = from.map((f) => schema[f.rp][f.m] as Written);
        const aliases = new Set([...q.matchAll(/AS "([^"]+)"/g)].map((m) => m[1] as string));
        for (const [, name] of q
          .replace(/AS "[^"]+"/g, "")
          .replace(/FROM "(raw|rollup)"\."[^"]+"/g, "")
          .matchAll(/"([^"]+)"/g)) {
          const n = name as string;
          expect(aliases.has(n) || s.some((x) => known(x.tags, n) || known(x.fields, n)), `"${n}" in: ${q}`).toBe(true);
        }
      }
    },
  );
  it("long ranges: every panel on raw readings reads the rollup before the raw retention, documented in the panel", () => {
    for (const d of dashboards)
      for (const p of d.json.panels) {
        const onRaw = p.targets.filter((t) => t.query.includes('FROM "raw".'));
        if (onRaw.length === 0) continue;
        for (const t of onRaw) expect(t.query).toContain("AND time > now() - $raw_retention");
        expect(
          p.targets.some((t) => t.query.includes('FROM "rollup".') && t.query.includes("AND time <= now() - $raw_retention")),
          p.title,
        ).toBe(true);
        expect(p.description).toContain("$raw_retention");
      }
    // the boundary is the service's raw retention by default
    const defaults = loadConfig({
      AGRILUME_ADMIN_KEY: "an-admin-key-of-at-least-24-characters",
      AGRILUME_STORE: "influx",
      AGRILUME_INFLUX_URL: "http://x:8086",
    });
    const rawRetention = defaults.ok && defaults.config.store.kind === "influx" ? defaults.config.store.influx.rawRetention : null;
    for (const d of dashboards.filter((x) => x.json.templating.list.some((v) => v.name === "raw_retention")))
      expect(d.json.templating.list.find((v) => v.name === "raw_retention")?.query).toBe(rawRetention);
  });
  it("the map's base layer is Grafana's default, which grafana.ini sets to none from the internet", () => {
    const maps = dashboards.flatMap((d) => d.json.panels.filter((p) => p.type === "geomap"));
    expect(maps.length).toBeGreaterThan(0);
    for (const p of maps) expect((p.options.basemap as { type: string }).type).toBe("default");
    const ini = readFileSync("grafana/grafana.ini", "utf8");
    const base = JSON.parse(/^default_baselayer_config = (.+)$/m.exec(ini)?.[1] ?? "{}") as { type: string; config: { src?: string } };
    expect(base).toEqual({ type: "geojson", config: { src: "public/maps/countries.geojson" } }); // served by Grafana itself
    expect(compose.services.grafana?.volumes).toContain("./grafana/grafana.ini:/etc/grafana/grafana.ini:ro");
  });
});

const influxd = serviceAvailable("InfluxDB", INFLUXD, "apt-get install influxdb");
describe.skipIf(!influxd)("dashboard queries against a real InfluxDB", () => {
  let influx: Influx;
  beforeAll(async () => {
    influx = await startInflux();
    // The database, retention policies and continuous query as the service makes them
    const store = await createInfluxTelemetryStore(
      { url: influx.url, database: "agrilume", setup: true, rawRetention: "60d", rollupRetention: "104w", instance: "stack" },
      createLogger("silent"),
    );
    await store.close();
    const rps = await influxQuery(influx.url, "agrilume", 'SHOW RETENTION POLICIES ON "agrilume"');
    expect(rps[0]?.values.map((v) => v[0])).toEqual(expect.arrayContaining(["raw", "rollup"]));
  });
  afterAll(async () => {
    await influx.stop();
    influx.remove();
  });
  it("every panel and variable query parses and runs (their figures: test/dashboards.test.ts)", async () => {
    for (const d of dashboards) {
      for (const raw of queriesOf(d.json)) {
        const q = substitute(raw, { from: Date.now() - 86_400_000, to: Date.now(), interval: "1m", vars: {}, dashboard: d.json });
        await expect(influxQuery(influx.url, "agrilume", q), `${d.file}: ${q}`).resolves.toBeDefined();
      }
    }
  });
});
