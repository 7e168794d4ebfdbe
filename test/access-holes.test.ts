import ExcelJS from "exceljs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../harness/helpers.js";

/**
 * The scope holes issue 16 lists, each by name: what a key limited to one town or one station could reach before the
 * access owner (src/access/scope.ts), and may not now. The matrix (access-matrix.test.ts) covers every route; these
 * replay the red team's findings as they were written.
 */
const LAISU = "来苏镇";
const SANJIAO = "三角镇";

describe("scope holes found by the red team (issue 16)", () => {
  let t: TestApp;
  const key = async (name: string, role: "admin" | "operator" | "finance" | "technician", limit: { towns?: string[]; stations?: string[] }) =>
    (await t.app.apiKeys.create({ name, role, ...limit })).key;
  const as = (k: string, path: string, init: { method?: string; body?: unknown; raw?: string; type?: string } = {}) =>
    t.api(path, {
      key: k,
      method: init.method ?? (init.raw !== undefined || init.body !== undefined ? "POST" : "GET"),
      ...(init.raw !== undefined
        ? { body: init.raw, headers: { "content-type": init.type ?? "text/csv" } }
        : init.body !== undefined
          ? { body: JSON.stringify(init.body) }
          : {}),
    });
  const json = async (res: Response) => (await res.json()) as Record<string, unknown>;
  let tech: string;
  let op: string;
  let fin: string;
  let imei = 861234567890100;
  const claims = (town: string, device: string, project: string) =>
    `项目编号,镇街,村,道路,年度,批准数量,补助标准,设备编号,经度,纬度,控制器序列号,IMEI,安装日期\n${project},${town},某村,村道1号,2024,1,1500,${device},105.9113,29.3512,SN-${device},${++imei},2024-09-12\n`;

  beforeAll(async () => {
    t = await startTestApp();
    tech = await key("来苏 technician", "technician", { towns: [LAISU] });
    op = await key("QJ-01 operator", "operator", { stations: ["QJ-01"] });
    fin = await key("来苏 finance", "finance", { towns: [LAISU] });
    for (const [id, name] of [
      ["QJ-01", "綦江站"],
      ["QJ-02", "三角站"],
    ])
      await t.api("/api/v1/stations", { method: "POST", body: JSON.stringify({ id, name }) });
    for (const [id, town] of [
      ["LS-1", LAISU],
      ["SJ-1", SANJIAO],
    ])
      await t.api("/api/v1/devices", {
        method: "POST",
        body: JSON.stringify({ id, family: "streetlight", town, village: "某村", lat: 29.35, lon: 105.91, lampW: 30 }),
      });
    await t.api("/api/v1/projects/import", { method: "POST", body: claims(LAISU, "LS-1", "P-LS"), headers: { "content-type": "text/csv" } });
    await t.api("/api/v1/projects/import", { method: "POST", body: claims(SANJIAO, "SJ-1", "P-SJ"), headers: { "content-type": "text/csv" } });
  });
  afterAll(() => t?.stop());

  it("a technician limited to one town cannot silence another town, or a type in every town", async () => {
    const other = await as(tech, "/api/v1/silences", { method: "POST", body: { town: SANJIAO, until: "2030-01-01T00:00:00Z", reason: "x" } });
    expect(other.status).toBe(403);
    expect(await json(other)).toMatchObject({ error: { code: "out_of_scope", params: { town: SANJIAO } } });
    const everywhere = await as(tech, "/api/v1/silences", { method: "POST", body: { type: "dark", until: "2030-01-01T00:00:00Z", reason: "x" } });
    expect(everywhere.status).toBe(403);
    expect(await json(everywhere)).toMatchObject({ error: { code: "out_of_scope", params: { everywhere: true } } });
    // another town's light named by its id is answered as an unknown one: neither that it exists nor its town is told
    const device = await as(tech, "/api/v1/silences", { method: "POST", body: { deviceId: "SJ-1", until: "2030-01-01T00:00:00Z", reason: "x" } });
    const unknown = await as(tech, "/api/v1/silences", {
      method: "POST",
      body: { deviceId: "NO-SUCH-1", until: "2030-01-01T00:00:00Z", reason: "x" },
    });
    expect([device.status, unknown.status]).toEqual([404, 404]);
    const [a, b] = [await json(device), await json(unknown)];
    expect((a.error as { code: string }).code).toBe((b.error as { code: string }).code);
    expect(JSON.stringify(a)).not.toContain(SANJIAO);
    // its own town: yes
    expect((await as(tech, "/api/v1/silences", { method: "POST", body: { town: LAISU, until: "2030-01-01T00:00:00Z", reason: "x" } })).status).toBe(
      201,
    );
  });

  it("a technician limited to one town does not list, nor end, the admin's maintenance window of another town", async () => {
    const window = (await json(
      await t.api("/api/v1/silences", { method: "POST", body: JSON.stringify({ town: SANJIAO, until: "2030-01-01T00:00:00Z", reason: "线路检修" }) }),
    )) as { id: string };
    const listed = (await json(await as(tech, "/api/v1/silences"))) as { silences: { id: string; town?: string }[] };
    expect(listed.silences.map((s) => s.id)).not.toContain(window.id);
    expect(listed.silences.every((s) => s.town === LAISU)).toBe(true);
    expect((await as(tech, `/api/v1/silences/${window.id}`, { method: "DELETE" })).status).toBe(404);
    // still in force for the admin
    const all = (await json(await t.api("/api/v1/silences"))) as { silences: { id: string }[] };
    expect(all.silences.map((s) => s.id)).toContain(window.id);
  });

  it("an operator limited to one station cannot silence a town's streetlights", async () => {
    const res = await as(op, "/api/v1/silences", { method: "POST", body: { town: LAISU, until: "2030-01-01T00:00:00Z", reason: "x" } });
    expect(res.status).toBe(403);
  });

  it("a finance key limited to 来苏镇 reads only 来苏镇 in /verification, with or without ?town=", async () => {
    const all = (await json(await as(fin, "/api/v1/verification"))) as { lights: { deviceId: string; town: string }[]; params: { towns?: string[] } };
    expect(all.lights.map((l) => l.town)).toEqual([LAISU]);
    expect(all.params.towns).toEqual([LAISU]);
    const own = (await json(await as(fin, `/api/v1/verification?town=${encodeURIComponent(LAISU)}`))) as { lights: { town: string }[] };
    expect(own.lights.map((l) => l.town)).toEqual([LAISU]);
    const other = await as(fin, `/api/v1/verification?town=${encodeURIComponent(SANJIAO)}`);
    expect(other.status).toBe(403);
  });

  it("… and in the visit list, the CSV and XLSX reports and the report log", async () => {
    const visits = await (await as(fin, "/api/v1/verification/visits")).text();
    expect(visits).toContain("LS-1");
    expect(visits).not.toContain("SJ-1");
    const csv = await (await as(fin, "/api/v1/verification/report.csv")).text();
    expect(csv).toContain("LS-1");
    expect(csv).not.toContain("SJ-1");
    expect(csv).not.toContain(SANJIAO);
    const xlsx = await as(fin, "/api/v1/verification/report.xlsx");
    expect(xlsx.status).toBe(200);
    const book = new ExcelJS.Workbook();
    await book.xlsx.load(Buffer.from(await xlsx.arrayBuffer()) as unknown as ArrayBuffer);
    const cells: string[] = [];
    book.eachSheet((sheet) => sheet.eachRow((row) => row.eachCell((c) => cells.push(String(c.value)))));
    expect(cells).toContain("LS-1");
    expect(cells.join("\n")).not.toContain("SJ-1");
    expect(cells.join("\n")).not.toContain(SANJIAO);
    // the admin's district-wide report and a 三角镇 report are not in the finance key's log
    // (made on purpose, so recorded: a view is not)
    expect((await t.api("/api/v1/verification/reports", { method: "POST", body: "{}" })).status).toBe(201);
    expect((await t.api("/api/v1/verification/reports", { method: "POST", body: JSON.stringify({ town: SANJIAO }) })).status).toBe(201);
    const log = (await json(await as(fin, "/api/v1/verification/reports"))) as { reports: { params: { town?: string; towns?: string[] } }[] };
    expect(log.reports.length).toBeGreaterThan(0);
    for (const r of log.reports) expect(r.params.town ?? r.params.towns).toEqual(r.params.town ? LAISU : [LAISU]);
  });

  it("a finance key limited to 来苏镇 cannot import claims for another town (nothing is imported)", async () => {
    const res = await as(fin, "/api/v1/projects/import", { raw: claims(SANJIAO, "SJ-2", "P-SJ2") });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: { code: "out_of_scope", params: { town: SANJIAO } } });
    const all = (await json(await t.api("/api/v1/verification"))) as { lights: { deviceId: string }[] };
    expect(all.lights.map((l) => l.deviceId)).not.toContain("SJ-2");
    expect((await as(fin, "/api/v1/projects/import", { raw: claims(LAISU, "LS-2", "P-LS2") })).status).toBe(200);
  });

  it("a finance key limited to 来苏镇 cannot move another town's project or light into its town by re-importing it (found by a new user)", async () => {
    const before = (await json(await t.api("/api/v1/verification?town=" + encodeURIComponent(SANJIAO)))) as { lights: { deviceId: string }[] };
    expect(before.lights.map((l) => l.deviceId)).toContain("SJ-1");
    // the other town's project id, said to be in 来苏镇
    const moved = await as(fin, "/api/v1/projects/import", { raw: claims(LAISU, "LS-9", "P-SJ") });
    expect(moved.status).toBe(403);
    expect(await json(moved)).toMatchObject({ error: { code: "out_of_scope", params: { town: SANJIAO } } });
    // the other town's light, claimed under the key's own project
    const taken = await as(fin, "/api/v1/projects/import", { raw: claims(LAISU, "SJ-1", "P-LS") });
    expect(taken.status).toBe(403);
    const after = (await json(await t.api("/api/v1/verification?town=" + encodeURIComponent(SANJIAO)))) as { lights: { deviceId: string }[] };
    expect(after.lights.map((l) => l.deviceId)).toEqual(before.lights.map((l) => l.deviceId));
    const own = (await json(await as(fin, "/api/v1/verification"))) as { lights: { deviceId: string }[] };
    expect(own.lights.map((l) => l.deviceId)).not.toContain("SJ-1");
    expect(own.lights.map((l) => l.deviceId)).not.toContain("LS-9");
  });

  it("a finance key limited to 来苏镇 cannot claim a light the registry puts in another town, unclaimed so far (found by a tester)", async () => {
    await t.api("/api/v1/devices", {
      method: "POST",
      body: JSON.stringify({ id: "SJ-FREE", family: "streetlight", town: SANJIAO, village: "某村", lat: 29.35, lon: 105.91, lampW: 30 }),
    });
    const res = await as(fin, "/api/v1/projects/import", { raw: claims(LAISU, "SJ-FREE", "P-LS3") });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: { code: "out_of_scope", params: { town: SANJIAO } } });
    const own = (await json(await as(fin, "/api/v1/verification"))) as { lights: { deviceId: string }[] };
    expect(own.lights.map((l) => l.deviceId)).not.toContain("SJ-FREE");
    // nor record a field visit for it
    const visit = await as(fin, "/api/v1/field-visits", { body: { deviceId: "SJ-FREE", foundAtPole: true } });
    expect(visit.status).not.toBe(201);
    // an admin may (the verdict then says what the data shows)
    expect(
      (await t.api("/api/v1/projects/import", { method: "POST", body: claims(SANJIAO, "SJ-FREE", "P-SJ3"), headers: { "content-type": "text/csv" } }))
        .status,
    ).toBe(200);
  });

  it("an admin re-importing a project with a changed town is told the project changed", async () => {
    const res = await t.api("/api/v1/projects/import", {
      method: "POST",
      body: claims(LAISU, "LS-3", "P-MOVE"),
      headers: { "content-type": "text/csv" },
    });
    expect(await json(res)).toMatchObject({ projectsCreated: 1, projectsUpdated: 0, created: 1 });
    const again = await t.api("/api/v1/projects/import", {
      method: "POST",
      body: claims(LAISU, "LS-3", "P-MOVE").replace("2024,1,1500", "2024,1,1800"),
      headers: { "content-type": "text/csv" },
    });
    expect(await json(again)).toMatchObject({ projectsCreated: 0, projectsUpdated: 1 });
  });

  it("an operator limited to one station cannot read another station's materials or formulas, nor create formulas for it", async () => {
    const own = await t.api("/api/v1/formulas", {
      method: "POST",
      body: JSON.stringify({ name: "QJ-02 专用", grade: "15-15-15", station: "QJ-02" }),
    });
    const theirs = (await own.json()) as { id: string };
    expect((await as(op, "/api/v1/materials?station=QJ-02")).status).toBe(403);
    expect((await as(op, "/api/v1/materials?station=QJ-01")).status).toBe(200);
    const list = (await json(await as(op, "/api/v1/formulas"))) as { formulas: { station: string | null }[] };
    expect(list.formulas.some((f) => f.station === "QJ-02")).toBe(false);
    expect((await as(op, `/api/v1/formulas/${theirs.id}`)).status).toBe(404);
    expect((await as(op, "/api/v1/formulas", { method: "POST", body: { name: "x", grade: "15-15-15", station: "QJ-02" } })).status).toBe(403);
    expect((await as(op, "/api/v1/formulas/solve", { method: "POST", body: { grade: "15-15-15", station: "QJ-02" } })).status).toBe(403);
  });

  it("an operator limited to one station cannot redefine another station's urea, nor add a material for all stations", async () => {
    const urea = { code: "urea", nameZh: "假尿素", nameEn: "Fake urea", n: 1, p2o5: 0, k2o: 0 };
    expect((await as(op, "/api/v1/materials", { method: "POST", body: { ...urea, station: "QJ-02" } })).status).toBe(403);
    // QJ-02's 15-15-15 still solves with real urea
    expect((await t.api("/api/v1/formulas/solve", { method: "POST", body: JSON.stringify({ grade: "15-15-15", station: "QJ-02" }) })).status).toBe(
      200,
    );
    const global = await as(op, "/api/v1/materials", { method: "POST", body: { ...urea, code: "zn_global" } });
    expect(global.status).toBe(403);
    expect(await json(global)).toMatchObject({ error: { code: "out_of_scope", params: { everywhere: true } } });
    expect((await as(op, "/api/v1/materials", { method: "POST", body: { ...urea, code: "urea_local", station: "QJ-01" } })).status).toBe(201);
  });

  it("a technician limited to a town does not see the stations' orders and conditions", async () => {
    const f = (await (await t.api("/api/v1/formulas", { method: "POST", body: JSON.stringify({ name: "站肥", grade: "15-15-15" }) })).json()) as {
      id: string;
    };
    const o = (await (
      await t.api("/api/v1/orders", {
        method: "POST",
        body: JSON.stringify({ station: "QJ-01", customer: "合作社", crop: "水稻", formulaId: f.id, targetT: 10, dueDate: "2030-01-01" }),
      })
    ).json()) as { id: string };
    expect(((await json(await t.api("/api/v1/orders"))) as { orders: unknown[] }).orders.length).toBeGreaterThan(0);
    expect(((await json(await as(tech, "/api/v1/orders"))) as { orders: unknown[] }).orders).toEqual([]);
    expect((await as(tech, `/api/v1/orders/${o.id}`)).status).toBe(404);
    t.app.alerts.engine.observe("M-1", "stalled", true, { family: "blender", town: null, village: null, station: "QJ-01", detail: null });
    expect(((await json(await as(tech, "/api/v1/alerts"))) as { alerts: { station: string | null }[] }).alerts.filter((a) => a.station)).toEqual([]);
    expect(((await json(await as(tech, "/api/v1/stations"))) as { stations: unknown[] }).stations).toEqual([]);
  });
  it("an object outside the scope named in a body answers exactly as an unknown one; a list filtered outside answers 403", async () => {
    // the fresh-clone tester's findings: each answer named the other town or station
    const sameAsUnknown = async (path: string, outside: unknown, unknown: unknown, k: string, id: string, unknownId: string) => {
      const a = await as(k, path, { body: outside });
      const b = await as(k, path, { body: unknown });
      const [ta, tb] = [await a.text(), await b.text()];
      expect([a.status, b.status], `${path}: ${ta}`).toEqual([404, 404]);
      expect(ta.split(id).join("ID")).toBe(tb.split(unknownId).join("ID"));
      for (const place of [SANJIAO, "QJ-02"]) expect(ta).not.toContain(place);
    };
    const command = (deviceId: string) => ({ deviceId, command: { name: "override", override: { action: "on", minutes: 5 } } });
    await sameAsUnknown("/api/v1/control/commands", command("SJ-1"), command("NOPE-1"), tech, "SJ-1", "NOPE-1");
    await sameAsUnknown("/api/v1/work-orders", { lightIds: ["LS-1", "SJ-1"] }, { lightIds: ["LS-1", "NOPE-1"] }, tech, "SJ-1", "NOPE-1");
    await t.api("/api/v1/devices", {
      method: "POST",
      body: JSON.stringify({ id: "QJ2-BL", family: "blender", town: "石角镇", station: "QJ-02", hopperMaterials: ["urea"] }),
    });
    const formula = (await json(await t.api("/api/v1/formulas", { method: "POST", body: JSON.stringify({ name: "F", grade: "15-15-15" }) }))).id;
    const order = (
      await json(
        await t.api("/api/v1/orders", {
          method: "POST",
          body: JSON.stringify({ station: "QJ-01", customer: "c", crop: "rice", formulaId: formula, targetT: 10, dueDate: "2030-01-01" }),
        }),
      )
    ).id as string;
    await sameAsUnknown(`/api/v1/orders/${order}/start`, { machineId: "QJ2-BL" }, { machineId: "NOPE-1" }, op, "QJ2-BL", "NOPE-1");
    // a claimed light of another town, for an inspector of 来苏镇
    const visit = (deviceId: string) => ({ deviceId, lat: 29.3512, lon: 105.9113, foundAtPole: true });
    await sameAsUnknown("/api/v1/field-visits", visit("SJ-1"), visit("NOPE-1"), fin, "SJ-1", "NOPE-1");

    for (const path of [
      `/api/v1/alerts?town=${SANJIAO}`,
      `/api/v1/devices?town=${SANJIAO}`,
      `/api/v1/work-orders?town=${SANJIAO}`,
      `/api/v1/streetlights/map?town=${SANJIAO}`,
      `/api/v1/streetlights/summary?town=${SANJIAO}`,
    ]) {
      const res = await as(tech, encodeURI(path));
      expect(res.status, path).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe("out_of_scope");
      expect((await as(tech, encodeURI(path.replace(SANJIAO, LAISU)))).status, path).toBe(200);
    }
    expect((await as(op, "/api/v1/orders?station=QJ-02")).status).toBe(403);
    expect((await as(op, "/api/v1/orders?station=QJ-01")).status).toBe(200);
  });
});
