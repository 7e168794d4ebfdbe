import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecipeCommandSchema } from "../devices/index.js";
import {
  ADMIN_KEY,
  connectDevice,
  publish,
  readSse,
  startReceiver,
  startStation,
  startTestApp,
  type TestApp,
  waitUntil,
} from "../harness/helpers.js";
import { createBlendingFeed } from "../src/alerts/feeds.js";

const STATION = "qijiang";

describe("blending station end to end", () => {
  let t: TestApp;
  let machine: MqttClient;
  let inbox: { topic: string; body: string }[] = [];
  let formulaId = "";
  let orderId = "";
  const post = async (path: string, body: unknown, key?: string) =>
    t.api(path, { method: "POST", body: JSON.stringify(body), ...(key ? { key } : {}) });

  beforeAll(async () => {
    t = await startTestApp();
    ({ machine, inbox } = await startStation(t, {
      station: STATION,
      machineId: "QJ-BL-01",
      topics: ["blender/QJ-BL-01/cmd/#", `stations/${STATION}/#`],
    }));
  });
  afterAll(async () => {
    machine.end(true);
    await t.stop();
  });

  it("solves a grade, and refuses one that cannot be made with the richest grade of its ratio", async () => {
    const ok = await post("/api/v1/formulas/solve", { grade: "15-15-15" });
    expect(await ok.json()).toEqual({ grade: "15-15-15", kgPerTonne: { urea: 257.1, map: 288.5, kcl: 250, filler: 204.4 } });
    const zn = (await (await post("/api/v1/formulas/solve", { grade: "24-8-13", trace: { Zn: 0.2 } })).json()) as {
      kgPerTonne: Record<string, number>;
    };
    // DOMAIN.md: 485 urea + 154 MAP + 217 KCl (484.95 before rounding to 0.1 kg)
    expect(zn.kgPerTonne).toMatchObject({ urea: 484.9, map: 153.8, kcl: 216.7, znso4: 5.7 });
    const no = await post("/api/v1/formulas/solve", { grade: "20-20-20" });
    expect(no.status).toBe(422);
    expect(await no.json()).toMatchObject({ error: { code: "validation", details: { richest: "18.8-18.8-18.8" } } });
    // why, as codes and parameters, and in the reader's language: Chinese by default, English when asked
    const problems = [
      { code: "solve_over_tonne", params: { kgPerTonne: 1061 } },
      { code: "grade_richest", params: { richest: "18.8-18.8-18.8" } },
    ];
    const again = async (lang?: string) =>
      (await (
        await t.api("/api/v1/formulas/solve", {
          method: "POST",
          body: JSON.stringify({ grade: "20-20-20" }),
          ...(lang ? { headers: { "accept-language": lang } } : {}),
        })
      ).json()) as { error: { code: string; message: string; params: unknown } };
    expect((await again()).error).toMatchObject({
      message: "请求无效：每吨原料合计 1061 kg，超过 1000 kg；此配比最多能配到 18.8-18.8-18.8",
      params: { problems },
    });
    expect((await again("en")).error.message).toBe(
      "Invalid request: the materials add up to 1061 kg per tonne, more than 1000; the richest grade of this ratio that can be made is 18.8-18.8-18.8",
    );
    // a request the schema refuses: a code per problem, with the field, in Chinese (no `body/x Expected number`)
    const bad = await post("/api/v1/orders", { station: STATION, customer: "x", crop: "rice", formulaId: "f", targetT: "300", dueDate: "30/11" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      error: {
        code: "validation",
        message: "请求无效：请求体 targetT 应为数字；请求体 dueDate：应为日期，格式 YYYY-MM-DD",
        params: {
          problems: [
            { code: "issue_type", params: { where: "body", path: "targetT", expected: "number" } },
            { code: "issue_hint", params: { where: "body", path: "dueDate", hint: { code: "hint_date", params: {} } } },
          ],
        },
      },
    });
  });

  it("a station adds its own material and solves with it", async () => {
    const add = await post("/api/v1/materials", {
      station: STATION,
      code: "npk_base",
      nameZh: "本地复合料",
      nameEn: "Local NPK base",
      n: 20,
      p2o5: 0,
      k2o: 0,
    });
    expect(add.status).toBe(201);
    const r = await post("/api/v1/formulas/solve", { grade: "10-10-10", materials: ["npk_base", "map", "kcl", "filler"], station: STATION });
    expect(await r.json()).toMatchObject({
      kgPerTonne: { npk_base: 394.2, map: 192.3, kcl: 166.7 } /* MAP brings 21.15 kg N: (100 − 21.15) / 0.20 */,
    });
    expect((await post("/api/v1/formulas/solve", { grade: "10-10-10", materials: ["npk_base", "map", "kcl", "filler"] })).status).toBe(422);
  });

  it("recommends a grade from a soil test", async () => {
    const r = await post("/api/v1/formulas/recommend", { crop: "rice", targetYieldKgPerMu: 500, soilSupplyKgPerMu: { n: 5, p2o5: 2, k2o: 6 } });
    expect(await r.json()).toMatchObject({ nutrientsKgPerMu: { n: 19.2, p2o5: 20, k2o: 16.7 }, grade: "15-16-13", kgPerTonne: expect.any(Object) });
    expect((await post("/api/v1/formulas/recommend", { crop: "rice", targetYieldKgPerMu: 500 })).status).toBe(400);
  });

  it("saves formulas as versions", async () => {
    const v1 = (await (await post("/api/v1/formulas", { name: "水稻配方肥", grade: "15-15-15" })).json()) as { id: string; version: number };
    const v2 = (await (await post("/api/v1/formulas", { name: "水稻配方肥", grade: "16-14-15" })).json()) as { id: string; version: number };
    expect([v1.version, v2.version]).toEqual([1, 2]);
    formulaId = v1.id;
  });

  it("starting an order sends the recipe to the machine over MQTT", async () => {
    const res = await post("/api/v1/orders", {
      station: STATION,
      customer: "永兴村合作社",
      crop: "rice",
      formulaId,
      targetT: 300,
      dueDate: "2099-12-31",
    });
    expect(res.status).toBe(201);
    orderId = ((await res.json()) as { id: string }).id;
    const started = await post(`/api/v1/orders/${orderId}/start`, { machineId: "QJ-BL-01" });
    expect(started.status).toBe(200);
    const recipe = await waitUntil(() => inbox.find((m) => m.topic === "blender/QJ-BL-01/cmd/recipe"), "the recipe");
    expect(RecipeCommandSchema.safeParse(JSON.parse(recipe.body)).success).toBe(true); // what PROTOCOL.md promises
    expect(JSON.parse(recipe.body)).toMatchObject({
      orderId,
      batchKg: 1000,
      bagKg: 50,
      bagsPerBatch: 20,
      materials: [
        { code: "urea", kg: 257.1, tolerance: { relPct: 1 } },
        { code: "map", kg: 288.5, tolerance: { relPct: 1 } },
        { code: "kcl", kg: 250, tolerance: { relPct: 1 } },
        { code: "filler", kg: 204.4, tolerance: { relPct: 1 } },
      ],
    });
  });

  it("batch events move the order's progress, over the API and the SSE stream; the retained progress reaches the display", async () => {
    const ac = new AbortController();
    const sse = await t.api(`/api/v1/orders/${orderId}/stream?key=${encodeURIComponent("test-admin-key-0123456789abcdef")}`, {
      key: null,
      signal: ac.signal,
    });
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    const events: { producedT: number }[] = [];
    const reader = readSse(sse, (e) => events.push(e as { producedT: number }));
    // One stream for every open order a key may see: the station's display, and an operator of another station
    const other = ((await (await post("/api/v1/keys", { name: "别站", role: "operator", stations: ["elsewhere"] })).json()) as { key: string }).key;
    const all: { orderId: string; producedT: number }[] = [];
    const theirs: unknown[] = [];
    const station = await t.api(`/api/v1/orders/stream?station=${STATION}&key=${encodeURIComponent(ADMIN_KEY)}`, { key: null, signal: ac.signal });
    const elsewhere = await t.api(`/api/v1/orders/stream?key=${encodeURIComponent(other)}`, { key: null, signal: ac.signal });
    const readers = [readSse(station, (e) => all.push(e as (typeof all)[number])), readSse(elsewhere, (e) => theirs.push(e))];
    await waitUntil(() => events.length >= 1 && all.length >= 1, "the first SSE events");
    expect(all[0]).toMatchObject({ orderId, producedT: 0 });
    expect(events[0]?.producedT).toBe(0);

    const t0 = Date.now() - 30 * 60_000;
    const target = { urea: 257.1, map: 288.5, kcl: 250, filler: 204.4 };
    for (let i = 0; i < 3; i++) {
      const batchId = `B-${i + 1}`;
      await publish(
        machine,
        "blender/QJ-BL-01/batch",
        JSON.stringify({ ts: t0 + i * 300_000, event: "started", batchId, orderId, targetKg: target }),
      );
      const actual = i === 2 ? { ...target, kcl: 240 } : { urea: 257.5, map: 288, kcl: 250.8, filler: 204 };
      await publish(
        machine,
        "blender/QJ-BL-01/batch",
        JSON.stringify({ ts: t0 + i * 300_000 + 240_000, event: "completed", batchId, orderId, actualKg: actual, bags: 20 }),
      );
    }
    await publish(
      machine,
      "blender/QJ-BL-01/batch",
      JSON.stringify({ ts: t0 + 1_000_000, event: "started", batchId: "B-4", orderId, targetKg: target }),
    );
    await publish(
      machine,
      "blender/QJ-BL-01/batch",
      JSON.stringify({ ts: t0 + 1_100_000, event: "aborted", batchId: "B-4", orderId, reason: "hopper empty" }),
    );

    await t.app.writer.waitFor(t.app.wal.lastSeq()); // every batch event is in the batch records
    const order = await waitUntil(async () => {
      const o = (await (await t.api(`/api/v1/orders/${orderId}`)).json()) as { producedT: number; batches: number };
      return o.batches === 3 && o;
    }, "three batches counted");
    expect(order).toMatchObject({ targetT: 300, producedT: 2.991, bags: 60, state: "running", dueDate: "2099-12-31", onSchedule: true });
    await waitUntil(() => events.some((e) => e.producedT === 2.991), "the SSE stream to show 2.991 t");
    await waitUntil(() => all.some((e) => e.orderId === orderId && e.producedT === 2.991), "the station stream to show 2.991 t");
    expect(theirs).toEqual([]); // the same events reached every listener: none was for the other station's operator
    ac.abort();
    await Promise.all([reader, ...readers]);

    const progress = await waitUntil(
      () => inbox.findLast((m) => m.topic === `stations/${STATION}/orders/${orderId}/progress` && JSON.parse(m.body).producedT === 2.991),
      "retained progress on MQTT",
    );
    expect(JSON.parse(progress.body)).toMatchObject({ orderId, progressPct: 1 });

    const batches = (await (await t.api(`/api/v1/orders/${orderId}/batches`)).json()) as {
      batches: {
        batchId: string;
        state: string;
        inTolerance: boolean | null;
        outOfTolerance: string[];
        durationS: number | null;
        actualGrade: unknown;
      }[];
    };
    expect(batches.batches.map((b) => [b.batchId, b.state, b.inTolerance])).toEqual([
      ["B-1", "complete", true],
      ["B-2", "complete", true],
      ["B-3", "complete", false],
      ["B-4", "aborted", null],
    ]);
    expect(batches.batches[2]?.outOfTolerance).toEqual(["kcl"]);
    expect(batches.batches[0]?.durationS).toBe(240);

    const csv = await t.api(`/api/v1/orders/${orderId}/batches?format=csv`);
    const bytes = new Uint8Array(await csv.arrayBuffer());
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
    expect(csv.headers.get("content-type")).toContain("text/csv");
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]); // BOM, so Excel reads the Chinese as UTF-8
    expect(text).toContain("批次号,订单号,设备,状态");
    expect(text.split("\r\n").filter(Boolean)).toHaveLength(5);
    expect(text).toContain("超差");
    // times people read are China time, not ISO 8601 in UTC
    const b1 = text.split("\r\n").find((l) => l.startsWith("B-1,")) ?? "";
    const [, , , state, started, ended] = b1.split(",");
    expect(state).toBe("完成");
    expect(started).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    expect(ended).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    expect(text).not.toMatch(/\d{2}:\d{2}:\d{2}(\.\d+)?Z/);
    const en = await (await t.api(`/api/v1/orders/${orderId}/batches?format=csv`, { headers: { "accept-language": "en" } })).text();
    expect(en).toContain(`B-1,${orderId},QJ-BL-01,complete,${started},${ended}`);
    expect(en).toContain("out of tolerance");
  });

  it("exposes the conditions: out of tolerance, hopper low, stalled, behind schedule", async () => {
    const now = Date.now();
    const tel = (ts: number, scaleKg: number, hopperKg: Record<string, number>) =>
      publish(machine, "blender/QJ-BL-01/telemetry", JSON.stringify({ ts, state: "running", hopperKg, scaleKg, mixerA: 18, bagsTotal: 60 }));
    await tel(now - 400_000, 500, { urea: 2000, map: 300, kcl: 2000, filler: 2000 });
    await tel(now - 200_000, 500, { urea: 2000, map: 300, kcl: 2000, filler: 2000 });
    const conditions = await waitUntil(async () => {
      const c = (await (await t.api(`/api/v1/blending/conditions?station=${STATION}`)).json()) as { conditions: { type: string; detail: string }[] };
      return c.conditions.some((x) => x.type === "stalled") && c.conditions;
    }, "conditions");
    const types = conditions.map((c) => c.type).sort();
    expect(types).toEqual(["hopper_low", "out_of_tolerance", "stalled"]); // QJ-BL-01 is connected, so not offline
    // the rule's wording in the reader's language: Chinese by default, English when asked
    expect(conditions.find((c) => c.type === "hopper_low")?.detail).toBe("磷酸一铵料仓 300 kg，低于补料线 577 kg");
    expect(conditions.find((c) => c.type === "hopper_low")).toMatchObject({
      detailCode: "hopper_below_refill",
      detailParams: { material: "map", name: { zh: "磷酸一铵", en: "Monoammonium phosphate" }, kg: 300, refillKg: 577 },
    });
    const en = (await (await t.api(`/api/v1/blending/conditions?station=${STATION}`, { headers: { "accept-language": "en" } })).json()) as {
      conditions: { type: string; detail: string }[];
    };
    expect(en.conditions.find((c) => c.type === "hopper_low")?.detail).toBe("Monoammonium phosphate: 300 kg, refill below 577 kg");
    for (const c of conditions) expect(c.detail, c.type).toMatch(/[\u4e00-\u9fff]/);

    const late = await post("/api/v1/orders", { station: STATION, customer: "x", crop: "maize", formulaId, targetT: 500, dueDate: "2020-01-01" });
    const lateId = ((await late.json()) as { id: string }).id;
    await post(`/api/v1/orders/${orderId}/pause`, {});
    await post(`/api/v1/orders/${lateId}/start`, { machineId: "QJ-BL-01" });
    await publish(
      machine,
      "blender/QJ-BL-01/batch",
      JSON.stringify({ ts: now - 100_000, event: "started", batchId: "L-1", orderId: lateId, targetKg: { urea: 100 } }),
    );
    await publish(
      machine,
      "blender/QJ-BL-01/batch",
      JSON.stringify({ ts: now - 60_000, event: "completed", batchId: "L-1", orderId: lateId, actualKg: { urea: 100 }, bags: 2 }),
    );
    await waitUntil(async () => {
      const c = (await (await t.api("/api/v1/blending/conditions")).json()) as { conditions: { type: string; orderId?: string }[] };
      return c.conditions.some((x) => x.type === "behind_schedule" && x.orderId === lateId);
    }, "behind schedule");
  });

  it("a machine offline during working hours is a condition; outside them it is not", async () => {
    const reg = await post("/api/v1/devices", { id: "QJ-BL-02", family: "blender", town: "綦江区", station: STATION, hopperMaterials: ["urea"] });
    expect(reg.status).toBe(201);
    const always = { periods: [["00:00", "23:59"]], days: [1, 2, 3, 4, 5, 6, 7] };
    await post("/api/v1/stations", { id: STATION, name: "綦江智能配肥站", workingHours: always });
    const c1 = (await (await t.api(`/api/v1/blending/conditions?station=${STATION}`)).json()) as {
      conditions: { type: string; machineId?: string }[];
    };
    expect(c1.conditions.filter((c) => c.type === "offline").map((c) => c.machineId)).toEqual(["QJ-BL-02"]);
    const never = { periods: [["00:00", "00:01"]], days: [1] };
    await post("/api/v1/stations", {
      id: STATION,
      name: "綦江智能配肥站",
      workingHours: { ...never, days: [((new Date(Date.now() + 8 * 3600_000).getUTCDay() + 1) % 7) + 1] },
    });
    const c2 = (await (await t.api(`/api/v1/blending/conditions?station=${STATION}`)).json()) as { conditions: { type: string }[] };
    expect(c2.conditions.filter((c) => c.type === "offline")).toEqual([]);
    await post("/api/v1/stations", { id: STATION, name: "綦江智能配肥站" });
  });

  it("pause and finish are commands to the machine; finishing clears the retained recipe", async () => {
    expect(inbox.some((m) => m.topic === "blender/QJ-BL-01/cmd/pause" && JSON.parse(m.body).orderId === orderId)).toBe(true);
    const res = await post(`/api/v1/orders/${orderId}/finish`, {});
    expect(await res.json()).toMatchObject({ state: "finished" });
    await waitUntil(() => inbox.some((m) => m.topic === "blender/QJ-BL-01/cmd/finish"), "finish command");
    expect((await post(`/api/v1/orders/${orderId}/start`, { machineId: "QJ-BL-01" })).status).toBe(409);
  });

  it("roles: finance sees no orders; a technician reads but cannot create; an operator of another station sees nothing", async () => {
    const key = async (body: unknown) => ((await (await post("/api/v1/keys", body)).json()) as { key: string }).key;
    const finance = await key({ name: "f", role: "finance" });
    expect((await t.api(`/api/v1/orders/${orderId}`, { key: finance })).status).toBe(403);
    const tech = await key({ name: "t", role: "technician" });
    expect((await t.api(`/api/v1/orders/${orderId}`, { key: tech })).status).toBe(200);
    expect(
      (await post("/api/v1/orders", { station: STATION, customer: "x", crop: "x", formulaId, targetT: 1, dueDate: "2099-01-01" }, tech)).status,
    ).toBe(403);
    const other = await key({ name: "o", role: "operator", stations: ["elsewhere"] });
    expect((await t.api(`/api/v1/orders/${orderId}`, { key: other })).status).toBe(404);
    expect(((await (await t.api("/api/v1/orders", { key: other })).json()) as { orders: unknown[] }).orders).toEqual([]);
  });

  it("batch records survive a restart (they are rebuilt from the log if the process died before writing them)", async () => {
    const dir = t.dataDir;
    await t.app.stop();
    t = await startTestApp({}, dir);
    const o = (await (await t.api(`/api/v1/orders/${orderId}`)).json()) as { producedT: number; state: string };
    expect(o).toMatchObject({ producedT: 2.991, state: "finished" });
  });
});

describe("a batch event counts only toward its own machine's order, with weights a batch can have (PROTOCOL.md §2)", () => {
  let t: TestApp;
  const clients: MqttClient[] = [];
  const post = async (path: string, body: unknown) => t.api(path, { method: "POST", body: JSON.stringify(body) });
  const machineOf = async (station: string, machineId: string) => {
    const s = await startStation(t, { station, machineId, topics: [`blender/${machineId}/cmd/#`] });
    clients.push(s.machine);
    return s.machine;
  };
  const rejects = async (id: string, lang?: string) =>
    (await (await t.api(`/api/v1/devices/${id}/rejects`, lang ? { headers: { "accept-language": lang } } : {})).json()) as {
      counts: Record<string, number>;
      recent: { reason: string; detail: string; detailCode: string; topic: string }[];
    };
  const order = async (id: string) => (await (await t.api(`/api/v1/orders/${id}`)).json()) as { producedT: number; bags: number; batches: number };
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await t?.stop();
  });

  it("another station's machine, a machine the order was not started on, and impossible weights are kept as rejects", async () => {
    t = await startTestApp({ AGRILUME_ALERT_GROUP_S: "1" });
    const qj1 = await machineOf("qijiang", "QJ-BL-01");
    const reg = await post("/api/v1/devices", { id: "QJ-BL-02", family: "blender", town: "綦江区", station: "qijiang", hopperMaterials: ["urea"] });
    const qj2 = await connectDevice(t, (await reg.json()) as { id: string; secret: string });
    clients.push(qj2);
    const tl = await machineOf("tongliang", "TL-BL-01");
    const formulaId = ((await (await post("/api/v1/formulas", { name: "水稻配方肥", grade: "15-15-15" })).json()) as { id: string }).id;
    const created = await post("/api/v1/orders", {
      station: "qijiang",
      customer: "永兴村",
      crop: "rice",
      formulaId,
      targetT: 300,
      dueDate: "2099-12-31",
    });
    const orderId = ((await created.json()) as { id: string }).id;
    expect((await post(`/api/v1/orders/${orderId}/start`, { machineId: "QJ-BL-01" })).status).toBe(200);

    const ts = Date.now() - 600_000;
    const kg = { urea: 257.1, map: 288.5, kcl: 250, filler: 204.4 };
    const batch = (
      client: MqttClient,
      id: string,
      batchId: string,
      done: { actualKg: Record<string, number>; bags: number },
      other?: string,
      targetKg = kg,
    ) =>
      Promise.all([
        publish(client, `blender/${id}/batch`, JSON.stringify({ ts, event: "started", batchId, orderId, targetKg })),
        publish(client, `blender/${id}/batch`, JSON.stringify({ ts: ts + 240_000, event: "completed", batchId, orderId: other ?? orderId, ...done })),
      ]);
    // the tester's repro: another station's machine names this order (weights a batch can have, so only the order is wrong)
    await batch(tl, "TL-BL-01", "TL-1", { actualKg: kg, bags: 20 });
    // a machine of the order's station the order was not started on
    await batch(qj2, "QJ-BL-02", "QJ2-1", { actualKg: kg, bags: 20 });
    // the order's own machine: 20 t in one batch, and 1000 bags from one tonne
    const big = { urea: 5000, map: 5000, kcl: 5000, filler: 5000 };
    await batch(qj1, "QJ-BL-01", "BIG-1", { actualKg: big, bags: 20 }, undefined, big);
    await batch(qj1, "QJ-BL-01", "BAGS-1", { actualKg: kg, bags: 1000 });
    // a batch started for the order and completed naming another one
    await batch(qj1, "QJ-BL-01", "SWAP-1", { actualKg: kg, bags: 20 }, "ORD-ELSEWHERE");
    // and one real batch, which counts
    await batch(qj1, "QJ-BL-01", "OK-1", { actualKg: kg, bags: 20 });
    await t.app.writer.waitFor(t.app.wal.lastSeq());

    const o = await waitUntil(async () => {
      const x = await order(orderId);
      return x.batches >= 1 && x;
    }, "the real batch counted");
    // BAGS-1's and SWAP-1's starts were real and are running batches; their completions are not counted
    expect(o).toMatchObject({ producedT: 1, bags: 20, batches: 1 });
    const listed = (await (await t.api(`/api/v1/orders/${orderId}/batches`)).json()) as { batches: { batchId: string; state: string }[] };
    expect(listed.batches.map((b) => [b.batchId, b.state]).sort()).toEqual([
      ["BAGS-1", "running"],
      ["OK-1", "complete"],
      ["SWAP-1", "running"],
    ]);
    const csv = await (await t.api(`/api/v1/orders/${orderId}/batches?format=csv`)).text();
    expect(csv).not.toContain("TL-1");
    expect(csv).not.toContain("BIG-1");

    const theirs = await rejects("TL-BL-01");
    expect(theirs.counts).toEqual({ not_machines_order: 2 });
    expect(theirs.recent[0]).toMatchObject({
      reason: "not_machines_order",
      detailCode: "batch_not_machines_order",
      topic: "blender/TL-BL-01/batch",
      detail: `订单 ${orderId} 不是在配肥机 TL-BL-01 上开始生产的订单：批次只计入本机正在生产的订单`,
    });
    expect((await rejects("TL-BL-01", "en")).recent[0]?.detail).toBe(
      `order ${orderId} was not started on machine TL-BL-01: a batch counts only toward its own machine's order`,
    );
    expect((await rejects("QJ-BL-02")).counts).toEqual({ not_machines_order: 2 });
    const own = await rejects("QJ-BL-01");
    expect(own.counts).toEqual({ batch_over_capacity: 3, not_machines_order: 1 });
    expect(own.recent.map((r) => r.detailCode).sort()).toEqual([
      "batch_bags_over_weight",
      "batch_order_changed",
      "batch_over_capacity",
      "batch_over_capacity",
    ]);
    expect(own.recent.find((r) => r.detailCode === "batch_over_capacity")?.detail).toBe("批次原料合计 20000 kg，超过一批的上限 5000 kg（秤的量程）");
    expect(own.recent.find((r) => r.detailCode === "batch_bags_over_weight")?.detail).toBe("1000 袋超过这批料能装的 21 袋（每袋 50 kg）");
    // counted in the metric as any reject
    const metrics = await (await t.api("/metrics")).text();
    expect(metrics).toMatch(/agrilume_messages_rejected_total\{family="blender",reason="not_machines_order"\} 5\b/);
  });

  it("alert texts name the station and the materials, not their codes (API, webhook)", async () => {
    const receiver = await startReceiver();
    try {
      const ch = await post("/api/v1/channels", { name: "綦江站", type: "webhook", url: `${receiver.url}/hook`, stations: ["qijiang"] });
      expect(ch.status).toBe(201);
      const orderId = t.app.blending.openOrders()[0]?.id ?? "";
      const qj1 = clients[0] as MqttClient;
      const ts = Date.now() - 60_000;
      const kg = { urea: 257.1, map: 288.5, kcl: 250, filler: 204.4 };
      await publish(qj1, "blender/QJ-BL-01/batch", JSON.stringify({ ts, event: "started", batchId: "OT-1", orderId, targetKg: kg }));
      await publish(
        qj1,
        "blender/QJ-BL-01/batch",
        JSON.stringify({ ts: ts + 30_000, event: "completed", batchId: "OT-1", orderId, actualKg: { ...kg, kcl: 240 }, bags: 20 }),
      );
      await publish(
        qj1,
        "blender/QJ-BL-01/telemetry",
        JSON.stringify({
          ts: ts + 40_000,
          state: "running",
          hopperKg: { urea: 2000, map: 2000, kcl: 10, filler: 2000 },
          scaleKg: 0,
          mixerA: 10,
          bagsTotal: 0,
        }),
      );
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      // what the scheduler does every 30 s
      createBlendingFeed({ engine: t.app.alerts.engine, registry: t.app.registry }).apply(await t.app.blendingMonitor.conditions(), Date.now());
      const got = await waitUntil(() => {
        const text = receiver.got.map((g) => (JSON.parse(g.body) as { text: string }).text).join("\n");
        return text.includes("超差") && text.includes("料仓") && text;
      }, "the alerts at the webhook");
      expect(got).toContain("批次 OT-1 超差：氯化钾 -10 kg");
      expect(got).toContain("氯化钾料仓 10 kg");
      expect(got).toContain("綦江智能配肥站");
      expect(got).not.toMatch(/\bkcl\b|\bqijiang\b/);
      const alerts = async (lang: string) =>
        (
          (await (await t.api("/api/v1/alerts?station=qijiang", { headers: { "accept-language": lang } })).json()) as {
            alerts: { type: string; detail: string }[];
          }
        ).alerts;
      expect((await alerts("zh")).find((a) => a.type === "hopper_low")?.detail).toBe("氯化钾料仓 10 kg，低于补料线 500 kg");
      expect((await alerts("en")).find((a) => a.type === "out_of_tolerance")?.detail).toBe("batch OT-1: Potassium chloride -10 kg");
    } finally {
      await receiver.close();
    }
  });
});
