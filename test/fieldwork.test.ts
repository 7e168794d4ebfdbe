import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, registerLight, startReceiver, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { jpeg, phoneJpeg } from "../harness/photos.js";
import { type LightSpec, newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { cleanPhoto, takePhoto } from "../src/fieldwork/photo.js";
import { addDays, chinaDate } from "../src/platform/clock.js";
import { DEFAULT_PROFILE, localDate, nightOf } from "../src/streetlights/expectation.js";
import type { NightRecord } from "../src/streetlights/nightly.js";
import { nightStore } from "../src/streetlights/store.js";

/**
 * Issue 21, item 1: a work order from a dark light's alert to a repair the light proves (its next lit readings close
 * the order; the alert resolves because the light is lit), and one it does not prove (still dark: reopened with the
 * evidence). The real service, real MQTT lights (the simulator's physics), real DuckDB.
 */
type Order = {
  id: string;
  state: string;
  priority: string;
  dueAt: string;
  createdAt: string;
  reopened: number;
  lights: { id: string }[];
  checkIns: { distanceM: number | null; flagged: boolean }[];
  photos: { id: string; url: string; takenAt: string | null; gps: { lat: number; lon: number } | null }[];
  proof: { lights: Record<string, { state: string; bad: number }> } | null;
  history: { action: string; who: string; lat: number | null; lon: number | null; textCode?: string; text?: string }[];
};
type Err = { error: { code: string; message: string; params?: Record<string, unknown> } };

const LAT = 29.3512;
const LON = 105.9113;
/** About 5 km north of the poles. */
const FAR = { lat: LAT + 0.045, lon: LON };

describe("work orders end to end: alert → order → check-in → done → the light's next readings decide", () => {
  let t: TestApp;
  let tech: string;
  let otherTech: string;
  let finance: string;
  const clients: MqttClient[] = [];
  const key = async (name: string, role: string, towns?: string[]) =>
    (
      (await (await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name, role, ...(towns ? { towns } : {}) }) })).json()) as {
        key: string;
      }
    ).key;
  const post = (path: string, body: unknown, k: string, headers: Record<string, string> = {}) =>
    t.api(path, { method: "POST", body: JSON.stringify(body), key: k, headers });
  const order = async (id: string, k = tech) => (await (await t.api(`/api/v1/work-orders/${id}`, { key: k })).json()) as Order;

  /** A light of 来苏镇 that went dark last night: its readings from an hour after dusk, and its open dark alert. */
  const darkLight = async (id: string) => {
    const spec: LightSpec = { id, lat: LAT, lon: LON, lampW: 30, panelWp: 120, batteryAh: 60, fault: "failed_lamp" };
    const client = await connectDevice(t, await registerLight(t, id));
    clients.push(client);
    const physics = newPhysics(spec);
    const n = nightOf(localDate(Date.now() - 86_400_000), LAT, LON, DEFAULT_PROFILE);
    let ts = n.dusk + 3600_000;
    const send = async (s: LightSpec, count: number) => {
      for (let i = 0; i < count; i++, ts += 5 * 60_000)
        await publish(client, `streetlight/${id}/telemetry`, JSON.stringify(streetlightReading(s, physics, ts, 300)));
    };
    await send(spec, 5);
    const alert = await waitUntil(async () => {
      const r = (await (await t.api("/api/v1/alerts?state=open&type=dark", { key: tech })).json()) as { alerts: { id: string; deviceId: string }[] };
      return r.alerts.find((a) => a.deviceId === id);
    }, `${id}'s dark alert`);
    return { alertId: alert.id, fixed: (count: number) => send({ ...spec, fault: null }, count), stillDark: (count: number) => send(spec, count) };
  };
  /** A technician takes the light's alert, goes, checks in near the pole, records a lamp replacement with a photo. */
  const repair = async (alertId: string) => {
    const made = await post("/api/v1/work-orders", { alertIds: [alertId], problem: "灯不亮" }, tech);
    expect(made.status).toBe(201);
    const o = (await made.json()) as Order;
    expect(o).toMatchObject({ state: "open", priority: "major" });
    expect(Date.parse(o.dueAt) - Date.parse(o.createdAt)).toBe(72 * 3600_000); // AGRILUME_FIELD_DUE_MAJOR_H
    expect((await post(`/api/v1/work-orders/${o.id}/moves`, { to: "assigned", assignee: "王工" }, tech)).status).toBe(200);
    expect((await post(`/api/v1/work-orders/${o.id}/moves`, { to: "on_the_way", lat: 29.3, lon: 105.9 }, tech)).status).toBe(200);
    const near = await post(`/api/v1/work-orders/${o.id}/check-ins`, { lat: LAT + 0.0001, lon: LON, accuracyM: 5 }, tech);
    expect(near.status).toBe(200);
    expect(((await near.json()) as Order).state).toBe("on_site");
    const done = await post(
      `/api/v1/work-orders/${o.id}/done`,
      { found: ["lamp"], done: ["lamp_replaced"], parts: [{ name: "30W LED 灯头", qty: 1 }], lat: LAT, lon: LON },
      tech,
    );
    expect(done.status).toBe(200);
    expect(((await done.json()) as Order).state).toBe("done");
    return o.id;
  };

  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_FIELD_PHOTO_MAX_KB: "64" });
    tech = await key("王工", "technician", ["来苏镇"]);
    otherTech = await key("赵工", "technician", ["三角镇"]);
    finance = await key("财政", "finance");
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await t.stop();
  });

  it("lit readings after the repair close the order, and the alert resolves with them", async () => {
    const light = await darkLight("FW-1");
    const id = await repair(light.alertId);
    // done is not proof: the alert is still open until the light says otherwise
    expect(((await (await t.api(`/api/v1/alerts/${light.alertId}`, { key: tech })).json()) as { state: string }).state).not.toBe("resolved");
    await light.fixed(3);
    const closed = await waitUntil(async () => {
      const o = await order(id);
      return o.state === "closed" && o;
    }, "the order closed by the light's readings");
    expect(closed.proof?.lights["FW-1"]?.state).toBe("proven");
    expect(closed.reopened).toBe(0);
    const last = closed.history.at(-1);
    expect(last).toMatchObject({ action: "closed", who: "system", textCode: "repair_proven" });
    expect(((await (await t.api(`/api/v1/alerts/${light.alertId}`, { key: tech })).json()) as { state: string }).state).toBe("resolved");
    // each change with who and where
    expect(closed.history.map((h) => h.action)).toEqual(["created", "assigned", "on_the_way", "on_site", "checked_in", "done", "closed"]);
    expect(closed.history.find((h) => h.action === "on_the_way")).toMatchObject({ who: "王工", lat: 29.3, lon: 105.9 });
  });

  it("readings still dark after the repair reopen the order with the evidence", async () => {
    const light = await darkLight("FW-2");
    const id = await repair(light.alertId);
    await light.stillDark(4);
    const reopened = await waitUntil(async () => {
      const o = await order(id);
      return o.reopened === 1 && o;
    }, "the order reopened");
    expect(reopened.state).toBe("assigned"); // back to its technician
    expect(reopened.proof).toBeNull();
    const last = reopened.history.at(-1);
    expect(last).toMatchObject({ action: "reopened", who: "system", textCode: "repair_not_proven" });
    expect(last?.text).toContain("FW-2");
    expect(last?.text).toContain("不亮");
    // it can be taken again
    expect((await post(`/api/v1/work-orders/${id}/moves`, { to: "on_the_way" }, tech)).status).toBe(200);
  });

  it("a check-in 5 km from the pole is refused and nothing is recorded; one 300 m away is flagged", async () => {
    const light = await darkLight("FW-3");
    const o = (await (await post("/api/v1/work-orders", { alertIds: [light.alertId] }, tech)).json()) as Order;
    const far = await post(`/api/v1/work-orders/${o.id}/check-ins`, FAR, tech);
    expect(far.status).toBe(422);
    const err = (await far.json()) as Err;
    expect(err.error.code).toBe("validation");
    expect(err.error.message).toMatch(/5 公里/);
    const english = await t.api(`/api/v1/work-orders/${o.id}/check-ins`, {
      method: "POST",
      body: JSON.stringify(FAR),
      key: tech,
      headers: { "accept-language": "en" },
    });
    expect(((await english.json()) as Err).error.message).toMatch(/5 km from the nearest pole/);
    const after = await order(o.id);
    expect(after.checkIns).toEqual([]);
    expect(after.state).toBe("open");
    const flagged = (await (await post(`/api/v1/work-orders/${o.id}/check-ins`, { lat: LAT + 0.0027, lon: LON }, tech)).json()) as Order;
    expect(flagged.checkIns).toHaveLength(1);
    expect(flagged.checkIns[0]?.flagged).toBe(true);
    expect(flagged.checkIns[0]?.distanceM).toBeGreaterThan(250);
    expect(flagged.history.at(-1)?.textCode).toBe("check_in_far");
  });

  it("photos: metadata stripped except time and place, size and type checked by bytes, served only in scope", async () => {
    const light = await darkLight("FW-4");
    const o = (await (await post("/api/v1/work-orders", { alertIds: [light.alertId] }, tech)).json()) as Order;
    const upload = (body: Buffer, type = "image/jpeg", k = tech) =>
      t.api(`/api/v1/work-orders/${o.id}/photos`, { method: "POST", body, key: k, headers: { "content-type": type } });
    const sent = phoneJpeg({ make: "SecretPhone", taken: "2026:11:29 21:15:00", lat: LAT, lon: LON, comment: "owner: 张三 13800000000" });
    const res = await upload(sent);
    expect(res.status).toBe(201);
    const photo = (await res.json()) as Order["photos"][number];
    expect(photo.takenAt).toBe("2026-11-29T13:15:00.000Z"); // China time as the phone wrote it
    expect(photo.gps?.lat).toBeCloseTo(LAT, 4);
    expect(photo.gps?.lon).toBeCloseTo(LON, 4);
    const got = await t.api(photo.url, { key: tech });
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/jpeg");
    const bytes = Buffer.from(await got.arrayBuffer());
    expect(bytes.equals(jpeg())).toBe(true); // exactly the image, without the EXIF block and the comment
    expect(bytes.includes(Buffer.from("SecretPhone"))).toBe(false);
    // another town's technician, and finance, do not get it
    expect((await t.api(photo.url, { key: otherTech })).status).toBe(404);
    expect((await t.api(photo.url, { key: finance })).status).toBe(403);
    // not an image (by its bytes, whatever it says it is), too large, an unknown type
    const notImage = await upload(Buffer.from("GIF89a, or a script: <script>alert(1)</script>"));
    expect(notImage.status).toBe(422);
    expect(((await notImage.json()) as Err).error.params).toMatchObject({ problems: [{ code: "photo_not_image" }] });
    const big = Buffer.concat([jpeg(), Buffer.alloc(80 * 1024)]);
    const tooLarge = await upload(big);
    expect(tooLarge.status).toBe(422);
    expect(((await tooLarge.json()) as Err).error.message).toMatch(/超过上限/);
    expect((await upload(jpeg(), "image/gif")).status).toBe(415);
    // a small file declaring 60,000 × 60,000 pixels, which every browser showing the order would try to decode (found by a tester)
    const bomb = await upload(declaredPng(60_000, 60_000), "image/png");
    expect(bomb.status).toBe(422);
    expect(((await bomb.json()) as Err).error.params).toMatchObject({
      problems: [{ code: "photo_too_many_pixels", params: { width: 60_000, height: 60_000, maxMegapixels: 50 } }],
    });
    expect((await order(o.id)).photos.map((p) => p.id)).toEqual([photo.id]);
  });

  it("scope and roles: another town's technician sees nothing and changes nothing; finance has no work orders", async () => {
    const light = await darkLight("FW-5");
    // another town's alert named by its id: 404, as an unknown one (README "Access")
    expect((await post("/api/v1/work-orders", { alertIds: [light.alertId] }, otherTech)).status).toBe(404);
    expect((await post("/api/v1/work-orders", { alertIds: [light.alertId] }, finance)).status).toBe(403);
    const o = (await (await post("/api/v1/work-orders", { alertIds: [light.alertId] }, tech)).json()) as Order;
    expect((await t.api(`/api/v1/work-orders/${o.id}`, { key: otherTech })).status).toBe(404);
    expect((await post(`/api/v1/work-orders/${o.id}/moves`, { to: "cancelled", reason: "x" }, otherTech)).status).toBe(404);
    expect((await post(`/api/v1/work-orders/${o.id}/check-ins`, { lat: LAT, lon: LON }, otherTech)).status).toBe(404);
    const list = (await (await t.api("/api/v1/work-orders", { key: otherTech })).json()) as { workOrders: Order[] };
    expect(list.workOrders).toEqual([]);
    const mine = (await (await t.api("/api/v1/work-orders?state=active", { key: tech })).json()) as { workOrders: Order[] };
    expect(mine.workOrders.map((w) => w.id)).toContain(o.id);
    // bad moves and missing reasons are clear errors
    expect((await post(`/api/v1/work-orders/${o.id}/moves`, { to: "cannot_fix" }, tech)).status).toBe(422);
    expect((await post(`/api/v1/work-orders/${o.id}/done`, { found: ["lamp"], done: ["lamp_replaced"] }, tech)).status).toBe(409);
    expect((await post(`/api/v1/work-orders/${o.id}/moves`, { to: "cancelled", reason: "重复工单" }, tech)).status).toBe(200);
    const again = await post(`/api/v1/work-orders/${o.id}/moves`, { to: "on_the_way" }, tech);
    expect(again.status).toBe(409);
    expect(((await again.json()) as Err).error.code).toBe("move_not_allowed");
    expect((await post("/api/v1/work-orders", {}, tech)).status).toBe(422);
    expect((await post("/api/v1/work-orders", { lightIds: ["NOPE"] }, tech)).status).toBe(404); // an unknown light, as one outside the town
  });

  it("an entry sent again with its Idempotency-Key is done once; the key with another entry is refused", async () => {
    const light = await darkLight("FW-6");
    const headers = { "idempotency-key": "phone-1:entry-1" };
    const first = await post("/api/v1/work-orders", { alertIds: [light.alertId] }, tech, headers);
    const second = await post("/api/v1/work-orders", { alertIds: [light.alertId] }, tech, headers);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    const a = (await first.json()) as Order;
    expect(((await second.json()) as Order).id).toBe(a.id);
    const orders = (await (await t.api("/api/v1/work-orders", { key: tech })).json()) as { workOrders: Order[] };
    expect(orders.workOrders.filter((w) => w.lights[0]?.id === "FW-6")).toHaveLength(1);
    const reused = await post("/api/v1/work-orders", { lightIds: ["FW-6"] }, tech, headers);
    expect(reused.status).toBe(422);
    // check-ins from the offline queue: three sends of one entry, one check-in
    const entry = { lat: LAT, lon: LON, at: new Date(Date.now() - 600_000).toISOString() };
    for (let i = 0; i < 3; i++)
      expect((await post(`/api/v1/work-orders/${a.id}/check-ins`, entry, tech, { "idempotency-key": "phone-1:entry-2" })).status).toBe(200);
    const o = await order(a.id);
    expect(o.checkIns).toHaveLength(1);
    expect(o.history.find((h) => h.action === "checked_in")).toMatchObject({ lat: LAT, lon: LON });
  });

  it("the district manager's figures, and their line in the morning digest", async () => {
    // FW-3 unlit on each of the last 4 nights; FW-4 lit on one of them
    const today = chinaDate(Date.now());
    const rec = (deviceId: string, date: string, classification: NightRecord["classification"]): NightRecord => ({
      deviceId,
      date,
      dusk: `${date}T10:00:00Z`,
      dawn: `${date}T23:30:00Z`,
      expectedMin: 810,
      litMin: classification === "lit" ? 800 : 0,
      coveredMin: 810,
      loadWh: 0,
      pvWhDayBefore: 300,
      switchOns: 1,
      classification,
      flags: [],
      lastTs: null,
      gps: null,
    });
    const dates = [1, 2, 3, 4].map((k) => addDays(today, -k));
    await nightStore(t.app.state.db).write([
      ...dates.map((d) => rec("FW-3", d, "dark")),
      ...dates.map((d, i) => rec("FW-4", d, i === 2 ? "lit" : "dark")),
    ]);
    type Figures = {
      openByTown: Record<string, { open: number; overdue: number }>;
      timeToRepair: { cause: string; repairs: number; medianH: number; p90H: number }[];
      closed: number;
      firstTimeFix: number | null;
      darkOver3Nights: Record<string, { count: number; ids: string[] }>;
      from: string;
      to: string;
      lastNight: string | null;
      darkNights: { first: string; last: string } | null;
      byTown: { town: string; closed: number; firstTimeFix: number | null; darkOver3Nights: number }[];
    };
    const f = (await (await t.api("/api/v1/work-orders/figures", { key: tech })).json()) as Figures;
    // FW-1 closed by its light the first time; FW-2 reopened (open again); FW-3, FW-4, FW-6 open; FW-5 cancelled
    expect(f.closed).toBe(1);
    expect(f.firstTimeFix).toBe(1);
    expect(f.timeToRepair).toEqual([{ cause: "lamp", repairs: 1, medianH: expect.any(Number), p90H: expect.any(Number) }]);
    expect(f.openByTown).toEqual({ 来苏镇: { open: 4, overdue: 0 } });
    expect(f.darkOver3Nights).toEqual({ 来苏镇: { count: 1, ids: ["FW-3"] } });
    // each figure by town too, the window as instants, the nights as China dates
    expect(f.byTown).toEqual([
      { town: "来苏镇", open: 4, overdue: 0, closed: 1, firstTimeFixed: 1, firstTimeFix: 1, timeToRepair: f.timeToRepair, darkOver3Nights: 1 },
    ]);
    expect(Date.parse(f.to) - Date.parse(f.from)).toBe(30 * 86_400_000);
    expect(f.lastNight).toBe(dates[0]);
    expect(f.darkNights).toEqual({ first: dates[3], last: dates[0] });
    const week = (await (await t.api("/api/v1/work-orders/figures?days=7", { key: tech })).json()) as Figures;
    expect(Date.parse(week.to) - Date.parse(week.from)).toBe(7 * 86_400_000);
    const theirs = (await (await t.api("/api/v1/work-orders/figures", { key: otherTech })).json()) as Figures;
    expect(theirs).toMatchObject({ openByTown: {}, closed: 0, firstTimeFix: null, darkOver3Nights: {} });
    expect((await t.api(`/api/v1/work-orders/figures?town=${encodeURIComponent("来苏镇")}`, { key: otherTech })).status).toBe(403);
    expect((await t.api("/api/v1/work-orders/figures", { key: finance })).status).toBe(403);

    const receiver = await startReceiver();
    try {
      const ch = await t.api("/api/v1/channels", {
        method: "POST",
        body: JSON.stringify({ name: "来苏镇维修群", type: "webhook", url: `${receiver.url}/hook`, towns: ["来苏镇"] }),
      });
      expect(ch.status).toBe(201);
      // (tomorrow morning's: the scheduler may have sent today's already, if this file ran past a minute)
      const sent = await t.app.alerts.digest.run(Date.parse(`${addDays(today, 1)}T08:31:00+08:00`));
      expect(sent).toContain("来苏镇");
      await t.app.alerts.notifier.tick();
      const got = await waitUntil(() => receiver.got.find((g) => (JSON.parse(g.body) as { kind: string }).kind === "digest"), "the digest");
      expect((JSON.parse(got.body) as { text: string }).text).toContain(
        "维修工单：未完成 4 张（逾期 0 张）；近 30 天修复 1 张，一次修复率 100%；连续 4 晚不亮的路灯 1 盏",
      );
    } finally {
      await receiver.close();
    }
  });
  it("a light's work history: the list filtered by light on the service, in the caller's towns, paged", async () => {
    type List = { total: number; workOrders: Order[] };
    const list = async (query: string, k = tech) => {
      const res = await t.api(`/api/v1/work-orders?${query}`, { key: k });
      expect(res.status).toBe(200);
      return (await res.json()) as List;
    };
    // FW-6 has one order (the idempotency test's); two more, and one for FWX7, whose id the pattern FW_7 would match
    for (const extra of [{ lightIds: ["FW-6"] }, { lightIds: ["FW-6", "FW-1"] }])
      expect((await post("/api/v1/work-orders", extra, tech)).status).toBe(201);
    await registerLight(t, "FWX7");
    await registerLight(t, "FW_7");
    expect((await post("/api/v1/work-orders", { lightIds: ["FWX7"] }, tech)).status).toBe(201);
    const all = await list("light=FW-6");
    expect(all.total).toBe(3);
    expect(all.workOrders).toHaveLength(3);
    for (const o of all.workOrders) expect(o.lights.map((l) => l.id)).toContain("FW-6");
    const first = await list("light=FW-6&limit=2");
    const rest = await list("light=FW-6&limit=2&offset=2");
    expect([first.total, first.workOrders.length, rest.workOrders.length]).toEqual([3, 2, 1]);
    expect([...first.workOrders, ...rest.workOrders].map((o) => o.id)).toEqual(all.workOrders.map((o) => o.id));
    expect((await list("light=FW-1")).workOrders.map((o) => o.lights.length).sort()).toEqual([1, 2]); // FW-1's own, and the one with FW-6
    expect((await list("light=FW-6&state=cancelled")).total).toBe(0);
    expect(await list("light=FW_7")).toEqual({ total: 0, workOrders: [] }); // "_" is not a wildcard
    expect((await list("light=FWX7")).total).toBe(1);
    // another town's technician: nothing of the light, as for a light that does not exist; finance: no work orders
    expect(await list("light=FW-6", otherTech)).toEqual({ total: 0, workOrders: [] });
    expect(await list("light=NOPE")).toEqual({ total: 0, workOrders: [] });
    expect((await t.api("/api/v1/work-orders?light=FW-6", { key: finance })).status).toBe(403);
    const bad = await t.api("/api/v1/work-orders?light=FW-6&offset=-1", { key: tech });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Err).error.message).toMatch(/offset/);
  });
});

const pngChunk = (type: string, data: Buffer) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, Buffer.from(type, "latin1"), data, Buffer.alloc(4)]);
};
const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** A tiny PNG whose header declares `width` × `height`. */
function declaredPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([PNG_SIG, pngChunk("IHDR", ihdr), pngChunk("IDAT", Buffer.from([1, 2, 3])), pngChunk("IEND", Buffer.alloc(0))]);
}

describe("photo cleaning", () => {
  it("reads the size a file declares: a PNG's IHDR, a JPEG's frame header", () => {
    expect(cleanPhoto(declaredPng(4000, 3000))).toMatchObject({ width: 4000, height: 3000 });
    expect(cleanPhoto(jpeg())).toMatchObject({ width: expect.any(Number), height: expect.any(Number) });
    expect(() => takePhoto(declaredPng(8160, 6144), 1 << 20)).toThrow(); // 50.1 MP
    expect(takePhoto(declaredPng(8000, 6000), 1 << 20).width).toBe(8000); // 48 MP
    expect(() => takePhoto(declaredPng(20_000, 100), 1 << 20)).toThrow(); // a side over 16,384
  });

  it("keeps a PNG's image chunks and drops its text", () => {
    const chunk = pngChunk;
    const sig = PNG_SIG;
    const ihdr = chunk("IHDR", Buffer.alloc(13, 1));
    const idat = chunk("IDAT", Buffer.from([1, 2, 3]));
    const iend = chunk("IEND", Buffer.alloc(0));
    const png = Buffer.concat([sig, ihdr, chunk("tEXt", Buffer.from("Author\0张三")), idat, iend]);
    const clean = cleanPhoto(png);
    expect(clean?.mediaType).toBe("image/png");
    expect(clean?.data.equals(Buffer.concat([sig, ihdr, idat, iend]))).toBe(true);
    expect(cleanPhoto(Buffer.concat([sig, ihdr]))).toBeNull(); // cut short
    expect(cleanPhoto(jpeg().subarray(0, 40))).toBeNull();
  });
});
