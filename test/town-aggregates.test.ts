import { get as httpGet } from "node:http";
import { gunzipSync } from "node:zlib";
import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { ADMIN_KEY, connectDevice, publish, reading, registerLight, startTestApp, type TestApp } from "../harness/helpers.js";
import { TownAggregates } from "../src/fleet/routes.js";
import { acceptsGzip } from "../src/http/compress.js";
import { DAILY_FIELDS, HOURLY_FIELDS } from "../src/storage/telemetry-store.js";

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
  type Answer = z.infer<typeof TownAggregates>;
  type Series = Answer["lights"][number]["fields"][string];
  const get = async (query: string, key?: string) => {
    const res = await t.api(`/api/v1/telemetry/aggregate?${query}`, key ? { key } : {});
    const body = (await res.json()) as Answer & { error?: { code: string; message: string } };
    // the route serialises its answer without checking it (it is large): here every answer is held to the declared schema
    if (res.status === 200) TownAggregates.parse(body);
    return { status: res.status, body };
  };
  type OwnBucket = { ts: string; field: string; min: number; avg: number; max: number; last: number; count: number };
  /** A light's own route's buckets (GET /devices/{id}/telemetry) as the town's answer aligns them. */
  const alignedOwn = (own: OwnBucket[], buckets: string[], fields: string[]) => {
    const out: Record<string, Series> = {};
    for (const b of own.filter((x) => fields.includes(x.field))) {
      const i = buckets.indexOf(b.ts);
      expect(i).toBeGreaterThanOrEqual(0);
      const nulls = () => buckets.map(() => null as number | null);
      out[b.field] ??= { min: nulls(), avg: nulls(), max: nulls(), last: nulls(), count: buckets.map(() => 0) };
      const s = out[b.field] as Series;
      s.min[i] = b.min;
      s.avg[i] = b.avg;
      s.max[i] = b.max;
      s.last[i] = b.last;
      s.count[i] = b.count;
    }
    return out;
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

  it("answers every light of the town, each as its own telemetry route aggregates it; a silent light with no fields", async () => {
    const { status, body } = await get(`town=${encodeURIComponent(A)}&from=${from}&to=${to}&every=hour`);
    expect(status).toBe(200);
    expect(body.town).toBe(A);
    expect(body.village).toBeNull();
    // by default the fields the hourly rollups keep (the same answer over any range), each step of the range
    expect(body.fields).toEqual([...HOURLY_FIELDS]);
    expect(body.buckets).toEqual([0, 1, 2].map((h) => new Date(start + h * HOUR).toISOString()));
    expect(body.lights.map((l) => l.deviceId)).toEqual(["TA-1", "TA-2", "TA-3", "TA-SILENT"]);
    expect(body.lights.at(-1)?.fields).toEqual({});
    for (const l of body.lights.slice(0, 3)) {
      const own = (await (await t.api(`/api/v1/devices/${l.deviceId}/telemetry?from=${from}&to=${to}&every=hour`)).json()) as {
        buckets: OwnBucket[];
      };
      expect(Object.keys(l.fields).sort()).toEqual([...HOURLY_FIELDS].sort());
      expect(l.fields).toEqual(alignedOwn(own.buckets, body.buckets, body.fields));
      const soc = l.fields["battery.soc"];
      expect(soc?.count).toEqual([3, 3, 3]);
      expect(soc?.avg[0]).toBe(lights.find((x) => x.id === l.deviceId)?.soc);
    }
  });

  it("per day by default the nine fields the daily rollups keep; a field they do not keep when asked for, from raw", async () => {
    const day = await get(`town=${encodeURIComponent(A)}&from=${from}&to=${to}`);
    expect(day.status).toBe(200);
    expect(day.body.fields).toEqual([...DAILY_FIELDS]);
    expect(Object.keys(day.body.lights[0]?.fields ?? {}).sort()).toEqual([...DAILY_FIELDS].sort());
    expect(day.body.lights[0]?.fields["pv.v"]).toBeUndefined();
    const pv = await get(`town=${encodeURIComponent(A)}&from=${from}&to=${to}&every=hour&fields=pv.v,battery.soc`);
    expect(pv.status).toBe(200);
    expect(pv.body.fields).toEqual(["pv.v", "battery.soc"]);
    const own = (await (await t.api(`/api/v1/devices/TA-1/telemetry?from=${from}&to=${to}&every=hour&fields=pv.v`)).json()) as {
      buckets: OwnBucket[];
    };
    expect(own.buckets.length).toBe(3);
    expect(pv.body.lights[0]?.fields["pv.v"]).toEqual(alignedOwn(own.buckets, pv.body.buckets, ["pv.v"])["pv.v"]);
  });

  it("a step a light sent nothing in is null with a count of 0, aligned with the others", async () => {
    // one hour before the readings and the three with them: the first step empty for every light
    const early = new Date(start - HOUR).toISOString();
    const { status, body } = await get(`town=${encodeURIComponent(A)}&from=${early}&to=${to}&every=hour&fields=battery.soc`);
    expect(status).toBe(200);
    expect(body.buckets.length).toBe(4);
    const soc = body.lights.find((l) => l.deviceId === "TA-2")?.fields["battery.soc"];
    expect(soc).toEqual({ min: [null, 60, 60, 60], avg: [null, 60, 60, 60], max: [null, 60, 60, 60], last: [null, 60, 60, 60], count: [0, 3, 3, 3] });
  });

  it("keeps to a village and to the fields asked for; per day by default", async () => {
    const { status, body } = await get(
      `town=${encodeURIComponent(A)}&village=${encodeURIComponent("梳妆台村")}&from=${from}&to=${to}&fields=battery.soc,load.w`,
    );
    expect(status).toBe(200);
    expect(body.every).toBe("day");
    expect(body.lights.map((l) => l.deviceId)).toEqual(["TA-1", "TA-2"]);
    expect(body.fields).toEqual(["battery.soc", "load.w"]);
    for (const l of body.lights) {
      expect(Object.keys(l.fields).sort()).toEqual(["battery.soc", "load.w"]);
      expect(l.fields["battery.soc"]?.count.reduce((n, c) => n + c, 0)).toBe(9);
    }
  });

  it("gzips the answer for a client that accepts it (and says it varies by that); sends it as it is to one that does not", async () => {
    /** The answer's headers and bytes as they come over the wire (fetch would undo the gzip). */
    const raw = (encoding?: string) =>
      new Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
        const url = `${t.started.httpUrl}/api/v1/telemetry/aggregate?town=${encodeURIComponent(A)}&from=${from}&to=${to}&every=hour`;
        const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}`, ...(encoding ? { "accept-encoding": encoding } : {}) };
        httpGet(url, { headers }, (res) => {
          const parts: Buffer[] = [];
          res.on("data", (d: Buffer) => parts.push(d));
          res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
        }).on("error", reject);
      });
    const plain = await raw();
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.headers["content-type"]).toBe("application/json; charset=utf-8");
    const answer = JSON.parse(plain.body.toString()) as Answer;
    expect(answer.lights.length).toBe(4);
    const zipped = await raw("gzip, deflate, br");
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.headers.vary).toContain("accept-encoding");
    expect(zipped.body.length).toBeLessThan(plain.body.length);
    expect(JSON.parse(gunzipSync(zipped.body).toString())).toEqual(answer);
    expect((await raw("gzip;q=0, identity")).headers["content-encoding"]).toBeUndefined();
  });

  it("reads Accept-Encoding as HTTP says: gzip or *, unless its q is 0", () => {
    expect(acceptsGzip("gzip")).toBe(true);
    expect(acceptsGzip("deflate, GZIP;q=0.5")).toBe(true);
    expect(acceptsGzip("*")).toBe(true);
    expect(acceptsGzip(["br", "gzip"])).toBe(true);
    expect(acceptsGzip("gzip;q=0")).toBe(false);
    expect(acceptsGzip("gzip; q=0.000")).toBe(false);
    expect(acceptsGzip("br, deflate")).toBe(false);
    expect(acceptsGzip("identity")).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
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

  it("reads a date alone as 00:00 China time, a time without a zone as China time, one with a zone as that instant", async () => {
    const day = new Date(start + 8 * HOUR).toISOString().slice(0, 10); // the China date of the readings' start
    const china = (time: string) => new Date(Date.parse(`${day}T${time}+08:00`)).toISOString();
    const { status, body } = await get(`town=${encodeURIComponent(A)}&from=${day}&to=${day}T23:30`);
    expect(status).toBe(200);
    expect([body.from, body.to]).toEqual([china("00:00:00"), china("23:30:00")]);
    expect(body.buckets).toEqual([china("00:00:00")]);
    const zoned = await get(`town=${encodeURIComponent(A)}&from=${day}T00:00:00Z&to=${encodeURIComponent(`${day}T12:00:00.5+08:00`)}`);
    expect([zoned.body.from, zoned.body.to]).toEqual([`${day}T00:00:00.000Z`, china("12:00:00.500")]);
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
    expect(JSON.stringify(many.body)).toContain("too_many_light_steps");
    // (what it counts: the town's four lights times the range's hours, 2,192 days of them)
    expect(many.body.error?.message).toContain(`4 盏灯 × ${2192 * 24} 个小时`);
    // a field a streetlight does not have (a mistyped one would answer nothing), with the ones it has
    const field = await get(`town=${encodeURIComponent(A)}&from=${from}&to=${to}&fields=battery.soc,nope.x`);
    expect(field.status).toBe(422);
    expect(field.body.error?.message).toContain("路灯没有这些字段：nope.x；可用的字段：pv.v");
    // a time that is none, in the reader's words
    for (const bad of ["2026-02-30", "yesterday", "1764335100000", "2026-11-01T25:00"]) {
      const res = await get(`town=${encodeURIComponent(A)}&from=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error?.message, bad).toContain("为北京时间当天 0 点");
    }
    // a key without an answer for an unknown town: its lights are none
    const empty = await get(`town=${encodeURIComponent("无此镇")}&from=${from}&to=${to}`);
    expect(empty.status).toBe(200);
    expect(empty.body.lights).toEqual([]);
  });
});
