import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, reading, registerLight, startTestApp, type TestApp } from "../harness/helpers.js";

/**
 * A town's (or a village's) lights aggregated in one query (issue 19): GET /api/v1/telemetry/aggregate, through the real
 * service (MQTT in, the embedded store, the API), scoped by the access owner.
 */
const A = "来苏镇";
const B = "朱沱镇";
const HOUR = 3_600_000;

describe("a town's aggregates (GET /api/v1/telemetry/aggregate)", () => {
  let t: TestApp;
  // three hours of readings, every 20 minutes, ending an hour ago (within the raw retention)
  const start = Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR;
  const from = new Date(start).toISOString();
  const to = new Date(start + 3 * HOUR).toISOString();
  const lights = [
    { id: "TA-1", town: A, village: "梳妆台村", soc: 80 },
    { id: "TA-2", town: A, village: "梳妆台村", soc: 60 },
    { id: "TA-3", town: A, village: "金鹅村", soc: 40 },
    { id: "TB-1", town: B, village: "红星村", soc: 20 },
  ];
  const keyFor = async (body: Record<string, unknown>) => {
    const res = await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify(body) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { key: string }).key;
  };
  type Answer = {
    town: string;
    village: string | null;
    every: string;
    lights: { deviceId: string; buckets: { ts: string; field: string; avg: number; count: number }[] }[];
  };
  const get = async (query: string, key?: string) => {
    const res = await t.api(`/api/v1/telemetry/aggregate?${query}`, key ? { key } : {});
    return { status: res.status, body: (await res.json()) as Answer & { error?: { code: string; message: string } } };
  };

  beforeAll(async () => {
    t = await startTestApp();
    await registerLight(t, "TA-SILENT", { town: A, village: "金鹅村" });
    const clients: MqttClient[] = [];
    for (const l of lights) {
      const creds = await registerLight(t, l.id, { town: l.town, village: l.village });
      const c = await connectDevice(t, creds);
      clients.push(c);
      for (let ts = start; ts < start + 3 * HOUR; ts += 20 * 60_000)
        await publish(c, `streetlight/${l.id}/telemetry`, JSON.stringify(reading(ts, { battery: { v: 12.9, soc: l.soc, tempC: 14.5 } })));
    }
    for (const c of clients) c.end();
    await t.app.writer.waitFor(t.app.wal.lastSeq());
  });
  afterAll(() => t?.stop());

  it("answers every light of the town, each as its own telemetry route aggregates it; a silent light with no buckets", async () => {
    const { status, body } = await get(`town=${encodeURIComponent(A)}&from=${from}&to=${to}&every=hour`);
    expect(status).toBe(200);
    expect(body.town).toBe(A);
    expect(body.village).toBeNull();
    expect(body.lights.map((l) => l.deviceId)).toEqual(["TA-1", "TA-2", "TA-3", "TA-SILENT"]);
    expect(body.lights.at(-1)?.buckets).toEqual([]);
    for (const l of body.lights.slice(0, 3)) {
      const own = await (await t.api(`/api/v1/devices/${l.deviceId}/telemetry?from=${from}&to=${to}&every=hour`)).json();
      expect(l.buckets).toEqual((own as { buckets: unknown[] }).buckets);
      const soc = l.buckets.filter((b) => b.field === "battery.soc");
      expect(soc.map((b) => b.count)).toEqual([3, 3, 3]);
      expect(soc[0]?.avg).toBe(lights.find((x) => x.id === l.deviceId)?.soc);
    }
  });

  it("keeps to a village and to the fields asked for; per day by default", async () => {
    const { status, body } = await get(
      `town=${encodeURIComponent(A)}&village=${encodeURIComponent("梳妆台村")}&from=${from}&to=${to}&fields=battery.soc,load.w`,
    );
    expect(status).toBe(200);
    expect(body.every).toBe("day");
    expect(body.lights.map((l) => l.deviceId)).toEqual(["TA-1", "TA-2"]);
    for (const l of body.lights) {
      expect(new Set(l.buckets.map((b) => b.field))).toEqual(new Set(["battery.soc", "load.w"]));
      expect(l.buckets.filter((b) => b.field === "battery.soc").reduce((n, b) => n + b.count, 0)).toBe(9);
    }
  });

  it("a key of one town reads its own town and gets 403 for another; a station's key gets 403 for any town", async () => {
    const keyB = await keyFor({ name: "朱沱 operator", role: "operator", towns: [B] });
    const own = await get(`town=${encodeURIComponent(B)}&from=${from}&to=${to}`, keyB);
    expect(own.status).toBe(200);
    expect(own.body.lights.map((l) => l.deviceId)).toEqual(["TB-1"]);
    const other = await get(`town=${encodeURIComponent(A)}&from=${from}&to=${to}`, keyB);
    expect(other.status).toBe(403);
    expect(other.body.error?.code).toBe("out_of_scope");
    expect(JSON.stringify(other.body)).not.toContain("TA-1");
    const station = await keyFor({ name: "站 operator", role: "operator", stations: ["ST-1"] });
    expect((await get(`town=${encodeURIComponent(B)}&from=${from}&to=${to}`, station)).status).toBe(403);
  });

  it("refuses a query without a town, a reversed range and more lights × steps than it answers, with a clear error", async () => {
    const none = await get(`from=${from}&to=${to}`);
    expect(none.status).toBe(400);
    expect(none.body.error?.message).toContain("town");
    const reversed = await get(`town=${encodeURIComponent(A)}&from=${to}&to=${from}`);
    expect(reversed.status).toBe(422);
    const many = await get(`town=${encodeURIComponent(A)}&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&every=hour`);
    expect(many.status).toBe(422);
    expect(many.body.error?.code).toBe("validation");
    expect(JSON.stringify(many.body)).toContain("too_many_buckets");
    // a key without an answer for an unknown town: its lights are none
    const empty = await get(`town=${encodeURIComponent("无此镇")}&from=${from}&to=${to}`);
    expect(empty.status).toBe(200);
    expect(empty.body.lights).toEqual([]);
  });
});
