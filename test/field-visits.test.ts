import ExcelJS from "exceljs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../harness/helpers.js";
import { jpeg } from "../harness/photos.js";
import { finalVerdict } from "../src/fieldwork/rules.js";

/**
 * Issue 21, item 2: the bureau's visit list recorded at the poles. An inspector records a claim "not found on site";
 * the report's final verdict and its XLSX say so, with the photo's link. A claim outside the inspector's towns, and a
 * visit recorded 5 km from the claimed pole, are refused and nothing is stored.
 */
type Visit = {
  id: string;
  deviceId: string;
  distanceM: number;
  foundAtPole: boolean;
  serialMatches: boolean | null;
  images: { url: string; kind: string }[];
};
type Row = { deviceId: string; dataVerdict: string; finalVerdict: string; finalVerdictText: string; visit: Visit | null };
const A = "来苏镇";
const B = "三角镇";
const csv = [
  "项目编号,镇街,村,道路,年度,批准数量,补助标准,设备编号,经度,纬度,控制器序列号,IMEI,安装日期",
  `P-A,${A},梳妆台村,村道1号,2024,2,1500,V-1,105.9113,29.3512,SNA0001,861234567890121,2024-09-12`,
  `P-A,${A},梳妆台村,村道1号,2024,2,1500,V-2,105.9123,29.3512,SNA0002,861234567890122,2024-09-12`,
  `P-B,${B},某村,村道2号,2024,1,1500,V-3,105.8000,29.3000,SNB0001,861234567890123,2024-09-12`,
].join("\n");

describe("field verification visits", () => {
  let t: TestApp;
  let inspector: string;
  let otherInspector: string;
  let tech: string;
  const key = async (name: string, role: string, towns?: string[]) =>
    (
      (await (await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name, role, ...(towns ? { towns } : {}) }) })).json()) as {
        key: string;
      }
    ).key;
  const visit = (body: Record<string, unknown>, k = inspector) =>
    t.api("/api/v1/field-visits", { method: "POST", body: JSON.stringify(body), key: k });

  beforeAll(async () => {
    t = await startTestApp();
    const imported = await t.api("/api/v1/projects/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } });
    expect(imported.status).toBe(200);
    inspector = await key("张科员", "finance", [A]);
    otherInspector = await key("李科员", "finance", [B]);
    tech = await key("王工", "technician", [A]);
  });
  afterAll(() => t?.stop());

  it("a claim not found on site: the report's final verdict and the XLSX say so, with the photo and signature links", async () => {
    const res = await visit({ deviceId: "V-1", lat: 29.3513, lon: 105.9113, foundAtPole: false, statement: "这里从来没有装过路灯" });
    expect(res.status).toBe(201);
    const v = (await res.json()) as Visit;
    expect(v.distanceM).toBeLessThan(20);
    const photo = await t.api(`/api/v1/field-visits/${v.id}/images?kind=photo`, {
      method: "POST",
      body: jpeg(),
      key: inspector,
      headers: { "content-type": "image/jpeg" },
    });
    expect(photo.status).toBe(201);
    const sig = await t.api(`/api/v1/field-visits/${v.id}/images?kind=signature`, {
      method: "POST",
      body: jpeg(),
      key: inspector,
      headers: { "content-type": "image/jpeg" },
    });
    expect(sig.status).toBe(201);
    const photoUrl = ((await photo.json()) as { url: string }).url;
    expect((await t.api(photoUrl, { key: inspector })).status).toBe(200);
    expect((await t.api(photoUrl, { key: otherInspector })).status).toBe(404);
    expect((await t.api(photoUrl, { key: tech })).status).toBe(403);
    // found, with the claimed serial: verified on site
    expect((await visit({ deviceId: "V-2", lat: 29.3512, lon: 105.9123, foundAtPole: true, controllerSerial: "sna0002", lit: true })).status).toBe(
      201,
    );

    const report = (await (await t.api("/api/v1/field-visits/report", { key: inspector })).json()) as {
      counts: Record<string, number>;
      claims: Row[];
    };
    const byId = new Map(report.claims.map((c) => [c.deviceId, c]));
    expect([...byId.keys()].sort()).toEqual(["V-1", "V-2"]); // V-3 is another town's
    expect(byId.get("V-1")).toMatchObject({ finalVerdict: "not_found_on_site", finalVerdictText: "现场未找到" });
    expect(byId.get("V-1")?.dataVerdict).not.toBe("verified"); // the data said something else; the visit decides
    expect(byId.get("V-2")).toMatchObject({ finalVerdict: "verified_on_site", visit: { serialMatches: true } });
    expect(report.counts).toEqual({ not_found_on_site: 1, verified_on_site: 1 });

    const xlsx = await t.api("/api/v1/field-visits/report.xlsx", { key: inspector });
    expect(xlsx.status).toBe(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(Buffer.from(await xlsx.arrayBuffer()) as unknown as ArrayBuffer);
    const ws = wb.worksheets[0];
    const rows: unknown[][] = [];
    ws?.eachRow((r) => {
      rows.push((r.values as unknown[]).slice(1));
    });
    expect(rows[0]).toContain("最终结论");
    const v1 = rows.find((r) => r[0] === "V-1") ?? [];
    expect(v1).toContain("现场未找到");
    expect(v1).toContain("在申报灯杆未找到");
    expect(v1).toContain("这里从来没有装过路灯");
    const links = v1.filter((c): c is { hyperlink: string } => typeof c === "object" && c !== null && "hyperlink" in c).map((c) => c.hyperlink);
    expect(links).toHaveLength(2);
    expect(links[0]).toContain(photoUrl);
  });

  it("a visit for a claim outside the inspector's towns, or 5 km from the pole, is refused and nothing is stored", async () => {
    const outside = await visit({ deviceId: "V-3", lat: 29.3, lon: 105.8, foundAtPole: true });
    expect(outside.status).toBe(403);
    expect(((await outside.json()) as { error: { code: string } }).error.code).toBe("out_of_scope");
    const far = await visit({ deviceId: "V-1", lat: 29.3962, lon: 105.9113, foundAtPole: true });
    expect(far.status).toBe(422);
    expect((await visit({ deviceId: "NOPE", lat: 29.3, lon: 105.8, foundAtPole: true })).status).toBe(404);
    expect((await visit({ deviceId: "V-1", lat: 29.3512, lon: 105.9113, foundAtPole: true }, tech)).status).toBe(403);
    const all = (await (await t.api("/api/v1/field-visits")).json()) as { visits: Visit[] };
    expect(all.visits.map((v) => v.deviceId).sort()).toEqual(["V-1", "V-2"]);
    const theirs = (await (await t.api("/api/v1/field-visits", { key: otherInspector })).json()) as { visits: Visit[] };
    expect(theirs.visits).toEqual([]);
  });

  it("final verdicts", () => {
    expect(finalVerdict("verified", null)).toBe("verified_by_data");
    expect(finalVerdict("not_lit", null)).toBe("to_revisit");
    expect(finalVerdict("verified", { foundAtPole: false, serialMatches: null, lit: null })).toBe("not_found_on_site");
    expect(finalVerdict("not_reporting", { foundAtPole: true, serialMatches: true, lit: true })).toBe("verified_on_site");
    expect(finalVerdict("verified", { foundAtPole: true, serialMatches: false, lit: null })).toBe("to_revisit");
    expect(finalVerdict("verified", { foundAtPole: true, serialMatches: null, lit: false })).toBe("to_revisit");
  });
});
