import { readFileSync } from "node:fs";
import type { OpenAPI3 } from "openapi-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startTestApp, type TestApp } from "../harness/helpers.js";
import { DOCUMENT_FILE, generateApiContract, TYPES_FILE } from "../scripts/api-types.js";
import { createAccess } from "../src/access/scope.js";
import { ErrorBodySchema, withExample, XLSX_TYPE } from "../src/http/schemas.js";
import { createHttpServer } from "../src/http/server.js";
import { createMessages } from "../src/messages.js";
import { createLogger } from "../src/platform/log.js";
import { streetlightMessage } from "../src/streetlights/messages.js";

type Media = { schema?: { $ref?: string; examples?: unknown[] }; example?: unknown; examples?: unknown };
type Operation = {
  operationId?: string;
  description?: string;
  security?: unknown[];
  parameters?: unknown[];
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { description: string; content?: Record<string, Media> }>;
};

/** Where two texts first differ, for a message a person can act on. */
function firstDifference(committed: string, generated: string): string {
  const a = committed.split("\n");
  const b = generated.split("\n");
  const i = a.findIndex((line, n) => line !== b[n]);
  const at = i < 0 ? Math.min(a.length, b.length) : i;
  return `line ${at + 1}: committed ${JSON.stringify(a[at] ?? "(end)")}, routes give ${JSON.stringify(b[at] ?? "(end)")}`;
}

/** The media types a success answer has; JSON unless said here. */
const SUCCESS_MEDIA: Record<string, string[]> = {
  getMetrics: ["text/plain"],
  listOrderBatches: ["application/json", "text/csv"],
  streamOrders: ["text/event-stream"],
  streamOrder: ["text/event-stream"],
  streamAlerts: ["text/event-stream"],
  getVerificationReportXlsx: [XLSX_TYPE],
  getVerificationReportCsv: ["text/csv"],
  getWorkOrderPhoto: ["image/jpeg", "image/png"],
  getFieldVisitImage: ["image/jpeg", "image/png"],
  getFieldVerificationReportXlsx: [XLSX_TYPE],
  getStreetlightEnergyXlsx: [XLSX_TYPE],
};
/** Binary bodies (a workbook, a photo): their schema says binary; an example of their bytes would say nothing. */
const binary = (type: string) => type === XLSX_TYPE || type.startsWith("image/");
/** Routes with an id in their path that answer 404 for an unknown one, except these. */
const NO_404 = new Set([
  "listChannelDeliveries", // an unknown channel has no deliveries
  "removeSilence", // ending an unknown silence changes nothing
]);

describe("the API contract", () => {
  let contract: Awaited<ReturnType<typeof generateApiContract>>;
  let doc: OpenAPI3;
  let operations: [string, Operation][];
  beforeAll(async () => {
    contract = await generateApiContract();
    doc = contract.openapi;
    operations = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      Object.entries(item as Record<string, Operation>).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${path}`, op]),
    );
  });

  const component = (ref: string | undefined) =>
    ref ? (doc.components?.schemas?.[ref.replace("#/components/schemas/", "")] as { examples?: unknown[] } | undefined) : undefined;
  const hasExample = (m: Media) =>
    m.example !== undefined || m.examples !== undefined || m.schema?.examples !== undefined || component(m.schema?.$ref)?.examples !== undefined;

  it("the committed OpenAPI document and the console's types are the ones the routes give", () => {
    const stale = (file: string, committed: string, generated: string) =>
      `${file} does not match the routes: run \`npm run api:types\` and commit the result (${firstDifference(committed, generated)})`;
    const document = readFileSync(DOCUMENT_FILE, "utf8");
    const types = readFileSync(TYPES_FILE, "utf8");
    expect(document === contract.document, stale(DOCUMENT_FILE, document, contract.document)).toBe(true);
    expect(types === contract.types, stale(TYPES_FILE, types, contract.types)).toBe(true);
  });

  it("documents every route of the service", () => {
    expect(operations.length).toBeGreaterThanOrEqual(61);
    const ids = operations.map(([, op]) => op.operationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it("every operation has an operationId, a description, and a success answer with its media type, schema and example", () => {
    for (const [where, op] of operations) {
      expect(op.operationId, where).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.description?.length ?? 0, `${where} description`).toBeGreaterThan(20);
      const success = Object.entries(op.responses).filter(([status]) => /^2\d\d$/.test(status));
      expect(success.length, `${where} has a 2xx answer`).toBeGreaterThan(0);
      for (const [status, response] of success) {
        expect(response.description, `${where} ${status}`).not.toBe("Default Response");
        if (status === "204") {
          expect(response.content, `${where} 204 has no body`).toBeUndefined();
          continue;
        }
        const media = response.content ?? {};
        expect(Object.keys(media).sort(), `${where} ${status} media types`).toEqual(
          (SUCCESS_MEDIA[op.operationId ?? ""] ?? ["application/json"]).sort(),
        );
        for (const [type, m] of Object.entries(media)) {
          expect(m.schema, `${where} ${status} ${type} schema`).toBeDefined();
          // (an event stream's schema is that of its events' data, named in the description)
          if (type !== "text/event-stream" && !binary(type)) expect(hasExample(m), `${where} ${status} ${type} example`).toBe(true);
        }
      }
      for (const [type, m] of Object.entries(op.requestBody?.content ?? {}))
        if (!binary(type)) expect(hasExample(m), `${where} request ${type} example`).toBe(true);
    }
  });

  it("every operation declares the errors it can give, with the one error body", () => {
    for (const [where, op] of operations) {
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      const statuses = Object.keys(op.responses);
      // (EMQX's endpoints take a shared secret, not a key: 401 without it, and no role to refuse)
      if (where.startsWith("POST /api/v1/broker/emqx/")) expect(statuses, `${where} needs the broker's secret`).toContain("401");
      else if (!isPublic) expect(statuses, `${where} needs a key`).toEqual(expect.arrayContaining(["401", "403"]));
      if (op.parameters?.length || op.requestBody) expect(statuses, `${where} has inputs`).toContain("400");
      if (where.includes("{id}") && !NO_404.has(op.operationId ?? "")) expect(statuses, `${where} finds by id`).toContain("404");
      for (const [status, response] of Object.entries(op.responses).filter(([s]) => /^4\d\d$/.test(s))) {
        expect(response.content?.["application/json"]?.schema?.$ref, `${where} ${status}`).toBe("#/components/schemas/Error");
        expect(response.description, `${where} ${status}`).not.toBe("Default Response");
      }
    }
  });

  it("health, readiness and signing in are public; every other /api route needs a key or a session (a bearer token or the cookie, or ?key= for live streams)", () => {
    const security = (where: string) => operations.find(([w]) => w === where)?.[1].security;
    expect(security("GET /health")).toEqual([]);
    expect(security("GET /ready")).toEqual([]);
    expect(security("POST /api/v1/session")).toEqual([]);
    expect(doc.security).toEqual([{ apiKey: [] }, { session: [] }]);
    // EMQX's endpoints: no key, the shared secret header (PROTOCOL.md §7)
    expect(security("POST /api/v1/broker/emqx/authn")).toEqual([{ brokerSecret: [] }]);
    expect(security("POST /api/v1/broker/emqx/authz")).toEqual([{ brokerSecret: [] }]);
    for (const [where, op] of operations.filter(
      ([w]) => w.includes(" /api/") && w !== "POST /api/v1/session" && !w.startsWith("POST /api/v1/broker/emqx/"),
    )) {
      if (op.operationId?.startsWith("stream")) expect(op.security, where).toEqual([{ apiKey: [] }, { session: [] }, { queryKey: [] }]);
      else expect(op.security, where).toBeUndefined();
    }
  });

  it("imports declare the files they take: devices as text/csv, claims as CSV or XLSX", () => {
    const body = (where: string) => Object.keys(operations.find(([w]) => w === where)?.[1].requestBody?.content ?? {});
    expect(body("POST /api/v1/devices/import")).toEqual(["text/csv"]);
    expect(body("POST /api/v1/projects/import").sort()).toEqual(["text/csv", XLSX_TYPE].sort());
  });

  it("the error body keeps what errors carry: code, message, params, details and anything added later", () => {
    const error = {
      error: { code: "conflict", message: "冲突: device YC-LS-0001", params: { id: "YC-LS-0001" }, details: { rows: [{ line: 2 }] }, hint: "x" },
    };
    expect(z.encode(ErrorBodySchema, error)).toEqual(error);
  });

  it("an example that does not match its schema is refused when the module loads", () => {
    expect(() => withExample(z.object({ n: z.number().int() }), { n: 1.5 })).toThrow(/does not match its schema/);
  });
});

describe("on a running service", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());

  it("the import examples in the document import", async () => {
    const doc = t.app.http.swagger() as OpenAPI3;
    const example = (path: string) => {
      const media = (doc.paths?.[path] as Record<string, Operation> | undefined)?.post?.requestBody?.content["text/csv"];
      return String(media?.example);
    };
    const post = (path: string, body: string) => t.api(path, { method: "POST", body, headers: { "content-type": "text/csv" } });
    const devices = await post("/api/v1/devices/import", example("/api/v1/devices/import"));
    expect(devices.status, await devices.clone().text()).toBe(201);
    expect(((await devices.json()) as { created: number }).created).toBeGreaterThan(0);
    const claims = await post("/api/v1/projects/import", example("/api/v1/projects/import"));
    expect(claims.status, await claims.clone().text()).toBe(200);
    expect(((await claims.json()) as { created: number }).created).toBeGreaterThan(0);
  });

  // A response schema narrower than the answer would strip fields or fail with 500; the other tests reach most
  // routes, these are the ones they do not.
  it("answers pass whole through the schemas they are declared with", async () => {
    const json = async (path: string, init?: RequestInit) => {
      const res = await t.api(path, init);
      expect(res.status, `${init?.method ?? "GET"} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
      return res.json() as Promise<Record<string, unknown>>;
    };
    const post = (path: string, body: unknown) => json(path, { method: "POST", body: JSON.stringify(body) });
    await post("/api/v1/stations", { id: "QJ-01", name: "綦江智能配肥站" });
    await post("/api/v1/materials", { code: "kcl_local", nameZh: "本地氯化钾", nameEn: "Local KCl", n: 0, p2o5: 0, k2o: 58, station: "QJ-01" });
    const materials = (await json("/api/v1/materials?station=QJ-01")).materials;
    expect(materials).toContainEqual({
      code: "kcl_local",
      nameZh: "本地氯化钾",
      nameEn: "Local KCl",
      n: 0,
      p2o5: 0,
      k2o: 58,
      trace: {},
      filler: false,
      station: "QJ-01",
    });
    const formula = await post("/api/v1/formulas", { name: "水稻专用肥", grade: "15-15-15", station: "QJ-01" });
    expect(await json(`/api/v1/formulas/${formula.id}`)).toEqual(formula);

    await post("/api/v1/devices", { id: "OA-1", family: "streetlight", town: "三角镇", village: "丛林村", lat: 29.35, lon: 105.91, lampW: 30 });
    const summary = await json("/api/v1/streetlights/summary?town=三角镇");
    expect(summary).toMatchObject({ total: 1, online: 0, counts: { offline: 1 }, listed: 1 });
    expect(summary.lights).toEqual([expect.objectContaining({ id: "OA-1", town: "三角镇", lat: 29.35, condition: "offline" })]);

    const ctx = { family: "streetlight" as const, town: "三角镇", village: "丛林村", station: null, detail: streetlightMessage("lamp_off", {}) };
    const alert = t.app.alerts.engine.observe("OA-1", "dark", true, ctx);
    await post(`/api/v1/alerts/${alert?.id}/assign`, { assignee: "李师傅" });
    const commented = await post(`/api/v1/alerts/${alert?.id}/comments`, { text: "明早去现场" });
    expect(commented).toMatchObject({
      assignee: "李师傅",
      history: [{ action: "fired" }, { action: "assigned" }, { action: "commented", text: "明早去现场" }],
    });

    const channel = await post("/api/v1/channels", { name: "维修群", type: "mqtt", towns: ["来苏镇"], lang: "en" });
    expect((await json("/api/v1/channels")).channels).toEqual([channel]);
    expect((await t.api(`/api/v1/channels/${channel.id}`, { method: "DELETE" })).status).toBe(204);
    const until = new Date(Date.now() + 3600_000).toISOString();
    const silence = await post("/api/v1/silences", { town: "来苏镇", type: "dark", until, reason: "线路检修" });
    expect((await json("/api/v1/silences")).silences).toEqual([{ ...silence, until }]);
    expect((await t.api(`/api/v1/silences/${silence.id}`, { method: "DELETE" })).status).toBe(204);

    const viewed = await json("/api/v1/verification?until=2025-11-28");
    expect(viewed.reportId).toBeNull(); // a view is not recorded
    const report = await post("/api/v1/verification/reports", { until: "2025-11-28" });
    expect(report.digest).toBe(viewed.digest);
    expect((await json("/api/v1/verification/reports")).reports).toEqual([
      {
        id: report.reportId,
        kind: "json",
        params: { until: "2025-11-28", nights: 30 },
        digest: report.digest,
        keyName: "AGRILUME_ADMIN_KEY",
        createdAt: expect.any(String),
      },
    ]);
  });

  it("a route that does not say what it is or what it answers stops the service at start", async () => {
    const http = await createHttpServer({
      log: createLogger("silent"),
      access: createAccess(),
      authenticate: t.app.authenticate,
      lang: "zh",
      trustProxy: false,
      requestTimeoutMs: 30_000,
      messages: createMessages(),
    });
    const handler = async () => ({ ok: true });
    const schema = { operationId: "getThing", description: "A thing, for this test only", response: { 200: z.object({ ok: z.boolean() }) } };
    const add = (s: object) => () => http.get("/api/v1/thing", { config: { roles: ["admin"], touches: "everything" }, schema: s }, handler);
    expect(add({ ...schema, operationId: undefined })).toThrow(/GET \/api\/v1\/thing declares no operationId/);
    expect(add({ ...schema, description: undefined })).toThrow(/declares no description/);
    expect(add({ ...schema, response: { 404: ErrorBodySchema } })).toThrow(/declares no 2xx response schema/);
    // and what it touches, for the access owner (issue 16)
    expect(() => http.get("/api/v1/other", { config: { roles: ["admin"] }, schema: { ...schema, operationId: "getOther" } }, handler)).toThrow(
      /GET \/api\/v1\/other declares no scope/,
    );
    expect(add(schema)).not.toThrow();
    await http.close();
  });
});
