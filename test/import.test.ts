import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gbk } from "../harness/claims.js";
import { connectDevice, publish, reading, startTestApp, type TestApp } from "../harness/helpers.js";

const HEADER = "id,family,town,village,lat,lon,lampW,panelWp,batteryAh,controllerSerial,moduleImei,station,hopperMaterials";

describe("bulk import of devices from CSV", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());
  const post = (csv: string) => t.api("/api/v1/devices/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } });

  it("reports every bad row with its line number and imports nothing", async () => {
    const csv = [
      HEADER,
      "IMP-1,streetlight,来苏镇,梳妆台村,29.35,105.91,30,120,60,SN1,860000000000001,,",
      "IMP-2,streetlight,来苏镇,梳妆台村,95,105.91,30,120,60,SN2,860000000000002,,", // lat out of range
      "IMP-1,streetlight,来苏镇,梳妆台村,29.35,105.91,30,120,60,SN3,860000000000003,,", // repeated id
      "IMP 4,streetlight,来苏镇,,29.35,105.91,30,120,60,SN4,86000,,", // bad id and IMEI
      "QJ-1,blender,綦江区,,,,,,,,,,", // blender without a station or materials
    ].join("\n");
    const res = await post(csv);
    expect(res.status).toBe(422);
    type Rows = { error: { code: string; message: string; details: { rows: { line: number; reason: string }[] } } };
    const body = (await res.json()) as Rows;
    expect(body.error.code).toBe("validation");
    expect(body.error.message).toMatch(/^请求无效：4 行有问题，未导入任何数据；第 3 行（IMP-2）：lat 应不大于 90；/);
    expect(body.error.details.rows.map((r) => r.line)).toEqual([3, 4, 5, 6]);
    expect(body.error.details.rows[0]?.reason).toContain("lat");
    const repeated = { line: 4, id: "IMP-1", code: "row_repeats_id", params: { line: 4, id: "IMP-1", first: 2 } };
    expect(body.error.details.rows[1]).toEqual({ ...repeated, reason: "第 4 行（IMP-1）：编号与第 2 行重复" });
    const en = (await (
      await t.api("/api/v1/devices/import", { method: "POST", body: csv, headers: { "content-type": "text/csv", "accept-language": "en" } })
    ).json()) as Rows;
    expect(en.error.details.rows[1]).toEqual({ ...repeated, reason: "line 4 (IMP-1): the id repeats line 2" });
    expect(body.error.details.rows[2]?.reason).toMatch(/id.*IMEI|IMEI.*id/s);
    expect(body.error.details.rows[3]?.reason).toContain("station");
    const list = (await (await t.api("/api/v1/devices")).json()) as { total: number };
    expect(list.total).toBe(0);
  });

  it("refuses a body that is not a CSV file with a clear code, and registers nothing", async () => {
    for (const [body, type] of [
      ["", "text/csv"],
      [JSON.stringify({ id: "IMP-9" }), "application/json"],
    ] as const) {
      const res = await t.api("/api/v1/devices/import", { method: "POST", body, headers: { "content-type": type } });
      expect(res.status).toBe(422);
      const err = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(err.code).toBe("validation");
      expect(err.message).toContain("CSV");
    }
    expect(((await (await t.api("/api/v1/devices")).json()) as { total: number }).total).toBe(0);
  });

  it("imports a good file, with a BOM and Chinese text, returning each secret once; the devices can connect", async () => {
    const csv = `\uFEFF${[
      HEADER,
      "IMP-1,streetlight,来苏镇,梳妆台村,29.35,105.91,30,120,60,SN1,860000000000001,,",
      "IMP-2,streetlight,来苏镇,梳妆台村,29.3505,105.9105,30,120,60,SN2,860000000000002,,",
      "QJ-1,blender,綦江区,,,,,,,,,綦江智能配肥站,urea;map;kcl;filler",
    ].join("\r\n")}\r\n`;
    const res = await post(csv);
    expect(res.status).toBe(201);
    const body = (await res.json()) as { created: number; devices: { id: string; secret: string }[] };
    expect(body.created).toBe(3);
    const blender = (await (await t.api("/api/v1/devices/QJ-1")).json()) as Record<string, unknown>;
    expect(blender).toMatchObject({ family: "blender", station: "綦江智能配肥站", hopperMaterials: ["urea", "map", "kcl", "filler"] });
    const light = body.devices.find((d) => d.id === "IMP-2");
    if (!light) throw new Error("IMP-2 missing");
    const client = await connectDevice(t, light);
    await publish(client, "streetlight/IMP-2/telemetry", JSON.stringify(reading(Date.now())));
    client.end();
    // importing the same file again changes nothing
    const again = await post(csv);
    expect(again.status).toBe(422);
    expect(((await (await t.api("/api/v1/devices")).json()) as { total: number }).total).toBe(3);
  });
  it("reads a GBK file with Chinese column names and family names, as a district's asset list is saved by Excel (found by a new user)", async () => {
    const csv = ["设备编号,类型,镇街,村,纬度,经度,灯具功率（W）,备注", "GBK-1,路灯,来苏镇,梳妆台村,29.3512,105.9113,30,村口"].join("\r\n");
    const bytes = gbk(csv);
    const res = await t.api("/api/v1/devices/import", { method: "POST", body: bytes, headers: { "content-type": "text/csv" } });
    expect(res.status).toBe(201);
    const light = (await (await t.api("/api/v1/devices/GBK-1")).json()) as Record<string, unknown>;
    expect(light).toMatchObject({ family: "streetlight", town: "来苏镇", village: "梳妆台村", lampW: 30 });
  });

  it("says which columns are missing, and what the file's header was", async () => {
    const res = await t.api("/api/v1/devices/import", {
      method: "POST",
      body: "编码,种类,镇街\nX-1,路灯,来苏镇\n",
      headers: { "content-type": "text/csv", "accept-language": "en" },
    });
    expect(res.status).toBe(422);
    const text = JSON.stringify(await res.json());
    expect(text).toContain("the header lacks these columns: id, family");
    expect(text).toContain("编码");
  });
});
