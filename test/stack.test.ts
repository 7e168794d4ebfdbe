import { existsSync, readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { numericFields } from "../devices/index.js";
import { reading } from "../harness/helpers.js";
import { INFLUXD, type Influx, serviceAvailable, startInflux } from "../harness/services.js";
import { loadConfig } from "../src/platform/config.js";
import { DASHBOARD_POINTS } from "../src/storage/dashboard-points.js";

type Compose = {
  services: Record<
    string,
    { image?: string; build?: string; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; healthcheck?: unknown }
  >;
};
const compose = parse(readFileSync("docker-compose.yml", "utf8")) as Compose;

describe("docker-compose.yml", () => {
  it("has InfluxDB 1.x, Grafana and the service, each with a health check", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["agrilume", "grafana", "influxdb"]);
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
    const env = Object.fromEntries(
      Object.entries(compose.services.agrilume?.environment ?? {}).map(([k, v]) => [
        k,
        String(v).replace(/\$\{[^}]+\}/g, "an-admin-key-of-at-least-24-characters"),
      ]),
    );
    const r = loadConfig(env);
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.ok && r.config.store).toMatchObject({ kind: "influx", influx: { url: "http://influxdb:8086", database: "agrilume" } });
  });
  it("provisions the datasource the dashboards use and the dashboards folder it mounts", () => {
    const ds = parse(readFileSync("grafana/provisioning/datasources/influxdb.yml", "utf8")) as { datasources: { uid: string; database: string }[] };
    expect(ds.datasources[0]).toMatchObject({ uid: "agrilume-influx", database: "agrilume" });
    const dp = parse(readFileSync("grafana/provisioning/dashboards/agrilume.yml", "utf8")) as { providers: { options: { path: string } }[] };
    expect(compose.services.grafana?.volumes).toContain(`./dashboards:${dp.providers[0]?.options.path}:ro`);
  });
});

/** The parts of Grafana's dashboard JSON model (schemaVersion 39) that provisioning and rendering rely on. */
const Target = z.object({
  refId: z.string().regex(/^[A-Z]$/),
  rawQuery: z.literal(true),
  query: z.string().min(10),
  resultFormat: z.enum(["time_series", "table"]),
  datasource: z.object({ uid: z.literal("agrilume-influx") }),
});
const Panel = z.object({
  id: z.number().int().positive(),
  type: z.enum(["gauge", "stat", "timeseries", "table", "bargauge", "piechart", "geomap", "barchart"]),
  title: z.string().min(1),
  gridPos: z.object({
    x: z.number().int().min(0).max(23),
    y: z.number().int().min(0),
    w: z.number().int().min(1).max(24),
    h: z.number().int().min(1),
  }),
  datasource: z.object({ type: z.literal("influxdb"), uid: z.literal("agrilume-influx") }),
  targets: z.array(Target).min(1),
  fieldConfig: z.object({ defaults: z.record(z.string(), z.unknown()), overrides: z.array(z.unknown()) }),
  options: z.record(z.string(), z.unknown()),
});
const Dashboard = z.object({
  uid: z.string().regex(/^agrilume-[a-z-]+$/),
  title: z.string().regex(/[\u4e00-\u9fff]/, "a Chinese title"),
  schemaVersion: z.number().int().min(36),
  timezone: z.literal("Asia/Shanghai"),
  time: z.object({ from: z.string(), to: z.string() }),
  templating: z.object({
    list: z.array(
      z.object({ type: z.literal("query"), name: z.string(), query: z.string(), datasource: z.object({ uid: z.literal("agrilume-influx") }) }),
    ),
  }),
  panels: z.array(Panel).min(1),
});

const files = readdirSync("dashboards").filter((f) => f.endsWith(".json"));
const dashboards = files.map((f) => ({ file: f, json: JSON.parse(readFileSync(`dashboards/${f}`, "utf8")) as z.infer<typeof Dashboard> }));

/** What the store writes: device measurements (tags, contract fields) and the derived ones. */
const DEVICE_TAGS = ["device", "family", "town", "village", "station"];
const sampleFields: Record<string, string[]> = {
  streetlight_telemetry: Object.keys(numericFields(reading(Date.now()))),
  blender_telemetry: ["state", "scaleKg", "mixerA", "bagsTotal", "hopperKg.*"],
};
const schema: Record<string, { tags: readonly string[]; fields: readonly string[] }> = {
  ...Object.fromEntries(Object.entries(sampleFields).map(([m, f]) => [m, { tags: DEVICE_TAGS, fields: [...f, "payload", "receivedAt"] }])),
  ...DASHBOARD_POINTS,
};
const known = (list: readonly string[], name: string) => list.includes(name) || list.some((f) => f.endsWith(".*") && name.startsWith(f.slice(0, -1)));

describe("Grafana dashboards", () => {
  it("three dashboards with stable, distinct uids and the template variables town, village and station", () => {
    expect(files.sort()).toEqual(["blending-station.json", "finance-verification.json", "streetlight-fleet.json"]);
    expect(new Set(dashboards.map((d) => d.json.uid)).size).toBe(3);
    const vars = dashboards.flatMap((d) => d.json.templating.list.map((v) => v.name));
    expect(vars).toEqual(expect.arrayContaining(["town", "village", "station"]));
  });
  it.each(dashboards.map((d) => [d.file, d.json] as const))("%s follows the dashboard model, and panels do not overlap", (_f, json) => {
    const r = Dashboard.safeParse(json);
    expect(r.success ? [] : r.error.issues).toEqual([]);
    const cells = new Set<string>();
    for (const p of json.panels)
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps`).toBe(false);
          cells.add(`${x},${y}`);
        }
    expect(new Set(json.panels.map((p) => p.id)).size).toBe(json.panels.length);
  });
  it.each(dashboards.map((d) => [d.file, d.json] as const))("every query in %s names a measurement, tags and fields the store writes", (_f, json) => {
    const queries = [...json.panels.flatMap((p) => p.targets.map((t) => t.query)), ...json.templating.list.map((v) => v.query)];
    for (const q of queries) {
      const measurements = [...q.matchAll(/FROM "([^"]+)"/g)].map((m) => m[1] as string);
      expect(measurements.length, q).toBeGreaterThan(0);
      for (const m of measurements) expect(Object.keys(schema), `${m} in: ${q}`).toContain(m);
      const s = measurements.map((m) => schema[m] as { tags: readonly string[]; fields: readonly string[] });
      const aliases = new Set([...q.matchAll(/AS "([^"]+)"/g)].map((m) => m[1] as string));
      for (const [, name] of q
        .replace(/AS "[^"]+"/g, "")
        .replace(/FROM "[^"]+"/g, "")
        .matchAll(/"([^"]+)"/g)) {
        const n = name as string;
        expect(aliases.has(n) || s.some((x) => known(x.tags, n) || known(x.fields, n)), `"${n}" in: ${q}`).toBe(true);
      }
      for (const [, prefix] of q.matchAll(/\/\^([A-Za-z]+)\\\.\//g))
        expect(
          s.some((x) => known(x.fields, `${prefix}.x`)),
          q,
        ).toBe(true);
    }
  });
});

const influxd = serviceAvailable("InfluxDB", INFLUXD, "apt-get install influxdb");
describe.skipIf(!influxd)("dashboard queries against a real InfluxDB", () => {
  let influx: Influx;
  beforeAll(async () => {
    influx = await startInflux();
    await fetch(`${influx.url}/query?q=${encodeURIComponent("CREATE DATABASE agrilume")}`, { method: "POST" });
  });
  afterAll(async () => {
    await influx.stop();
    influx.remove();
  });
  it("every panel and variable query parses and runs", async () => {
    for (const d of dashboards) {
      const queries = [...d.json.panels.flatMap((p) => p.targets.map((t) => t.query)), ...d.json.templating.list.map((v) => v.query)];
      for (const raw of queries) {
        const q = raw
          .replace(/\$timeFilter/g, "time > now() - 1d")
          .replace(/\$__interval/g, "1m")
          .replace(/\/\^\$[a-z]+\$\//g, "/^.*$/");
        const res = (await (await fetch(`${influx.url}/query?db=agrilume&q=${encodeURIComponent(q)}`)).json()) as {
          error?: string;
          results?: { error?: string }[];
        };
        expect(res.error ?? res.results?.[0]?.error ?? null, `${d.file}: ${q}`).toBe(null);
      }
    }
  });
});
