import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReceiver, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";
import { type Alert, createAlertEngine } from "../src/alerts/engine.js";
import { createNotifier } from "../src/alerts/notifier.js";
import { alertStore } from "../src/alerts/store.js";
import { createMessages } from "../src/messages.js";
import { createLogger } from "../src/platform/log.js";
import { openStateStore, type StateStore } from "../src/state.js";
import { streetlightMessage } from "../src/streetlights/messages.js";

const ctx = (town: string) => ({
  family: "streetlight" as const,
  town,
  village: "v",
  station: null,
  detail: streetlightMessage("lamp_power_low", { w: 0, expectedW: 30 }),
});

describe("resolved alerts leave memory; their history stays in the store", () => {
  const dir = tempDir();
  let state: StateStore;
  beforeAll(async () => {
    state = await openStateStore(dir.path);
  });
  afterAll(async () => {
    await state.close();
    dir.remove();
  });

  it("raise 50, resolve 45: the engine holds the 5 open ones, the store all 50; an action on a resolved one reads it back", async () => {
    const store = alertStore(state.db);
    const engine = createAlertEngine({
      clock: () => 1_000,
      persist: (a) => store.putAlert(a),
      history: { get: (id) => store.getAlert(id), resolved: (q) => store.resolvedAlerts(q) },
    });
    const raised = Array.from({ length: 50 }, (_, i) => engine.observe(`M-${i}`, "dark", true, ctx("来苏镇"), 1_000 + i) as Alert);
    for (let i = 0; i < 40; i++) engine.observe(`M-${i}`, "dark", false, ctx("来苏镇"), 2_000 + i);
    for (let i = 40; i < 45; i++) await engine.resolve(raised[i]?.id ?? "", "王工", "bulb replaced");
    await waitUntil(() => engine.list().length === 5, "resolved alerts to leave memory once written");
    expect(
      engine
        .list()
        .map((a) => a.deviceId)
        .sort(),
    ).toEqual(["M-45", "M-46", "M-47", "M-48", "M-49"]);
    const rows = await state.db.all<{ state: string; n: bigint }>("SELECT state, count(*) AS n FROM alerts GROUP BY state ORDER BY state");
    expect(rows.map((r) => [r.state, Number(r.n)])).toEqual([
      ["firing", 5],
      ["resolved", 45],
    ]);
    // still found, listed and acted on
    const old = raised[3]?.id ?? "";
    expect(engine.get(old)).toBeUndefined();
    expect(await engine.find(old)).toMatchObject({ deviceId: "M-3", state: "resolved", resolvedAt: 2_003 });
    expect((await engine.query({ state: "resolved", limit: 100 })).map((a) => a.deviceId)).toEqual(
      Array.from({ length: 45 }, (_, i) => `M-${44 - i}`),
    );
    expect((await engine.query({ limit: 7 })).map((a) => a.deviceId)).toEqual(["M-49", "M-48", "M-47", "M-46", "M-45", "M-44", "M-43"]);
    const commented = await engine.comment(old, "王工", "pole repainted too");
    expect(commented?.history.map((h) => h.action)).toEqual(["fired", "resolved", "commented"]);
    await waitUntil(() => engine.list().length === 5, "the commented alert to leave memory again");
    expect((await store.getAlert(old))?.history.at(-1)).toMatchObject({ action: "commented", who: "王工", text: "pole repainted too" });
  });

  it("a resolved alert whose write failed stays in memory, so the API does not answer with the store's stale copy", async () => {
    let failing = true;
    const store = alertStore(state.db);
    const errors: unknown[] = [];
    const engine = createAlertEngine({
      clock: () => 5_000,
      persist: (a) => (failing && a.state === "resolved" ? Promise.reject(new Error("disk full")) : store.putAlert(a)),
      onPersistError: (e) => errors.push(e),
      history: { get: (id) => store.getAlert(id), resolved: (q) => store.resolvedAlerts(q) },
    });
    const a = engine.observe("F-1", "dark", true, ctx("来苏镇")) as Alert;
    engine.observe("F-1", "dark", false, ctx("来苏镇"));
    await waitUntil(() => errors.length === 1, "the failed write");
    await state.db.all("SELECT 1"); // the firing write is in too
    expect(engine.get(a.id)?.state).toBe("resolved");
    expect((await store.getAlert(a.id))?.state).toBe("firing");
    failing = false;
    await engine.comment(a.id, "王工", "written now");
    await waitUntil(() => engine.get(a.id) === undefined, "the alert to leave once written");
    expect((await store.getAlert(a.id))?.state).toBe("resolved");
  });
});

describe("resolved alerts through the API", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.stop();
  });

  it("are listed, read and commented on after they leave memory; a technician still sees only their town's", async () => {
    const { engine } = t.app.alerts;
    const base = Date.now() - 3600_000;
    for (let i = 0; i < 12; i++) engine.observe(`API-${i}`, "dark", true, ctx(i % 2 ? "朱沱镇" : "来苏镇"), base + i * 1000);
    for (let i = 0; i < 10; i++) engine.observe(`API-${i}`, "dark", false, ctx(i % 2 ? "朱沱镇" : "来苏镇"), base + 60_000 + i);
    await waitUntil(() => engine.list().length === 2, "resolved alerts to leave memory");
    const tech = (
      (await (
        await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name: "王工", role: "technician", towns: ["来苏镇"] }) })
      ).json()) as {
        key: string;
      }
    ).key;
    type Listed = { alerts: { id: string; deviceId: string; state: string }[] };
    const list = async (q: string, key?: string) => ((await (await t.api(`/api/v1/alerts${q}`, key ? { key } : {})).json()) as Listed).alerts;

    expect((await list("")).map((a) => a.deviceId)).toEqual(Array.from({ length: 12 }, (_, i) => `API-${11 - i}`));
    expect((await list("?state=resolved")).map((a) => a.deviceId)).toEqual(Array.from({ length: 10 }, (_, i) => `API-${9 - i}`));
    expect((await list("?state=open")).map((a) => a.deviceId)).toEqual(["API-11", "API-10"]);
    expect((await list("?limit=3")).map((a) => a.deviceId)).toEqual(["API-11", "API-10", "API-9"]);
    // the reader's towns are part of the query: three of this town's, not three of all filtered afterwards
    expect((await list("?state=resolved&limit=3", tech)).map((a) => a.deviceId)).toEqual(["API-8", "API-6", "API-4"]);

    const gone = (await list("?state=resolved")).find((a) => a.deviceId === "API-2")?.id ?? "";
    expect(engine.get(gone)).toBeUndefined();
    const one = await t.api(`/api/v1/alerts/${gone}`, { key: tech });
    expect(await one.json()).toMatchObject({ deviceId: "API-2", state: "resolved", history: [{ action: "fired" }, { action: "resolved" }] });
    const other = (await list("?state=resolved")).find((a) => a.deviceId === "API-3")?.id ?? "";
    expect((await t.api(`/api/v1/alerts/${other}`, { key: tech })).status).toBe(404); // 朱沱镇's
    const c = await t.api(`/api/v1/alerts/${gone}/comments`, { method: "POST", body: JSON.stringify({ text: "灯杆已更换" }), key: tech });
    expect(c.status).toBe(201);
    expect(await c.json()).toMatchObject({
      history: [{ action: "fired" }, { action: "resolved" }, { action: "commented", who: "王工", text: "灯杆已更换" }],
    });
    const ack = await t.api(`/api/v1/alerts/${gone}/ack`, { method: "POST", body: "{}", key: tech });
    expect(await ack.json()).toMatchObject({ state: "resolved" });
    await waitUntil(() => engine.list().length === 2, "the commented alert to leave memory again");
    expect(((await (await t.api(`/api/v1/alerts/${gone}`)).json()) as { history: unknown[] }).history).toHaveLength(3);
  });
});

describe("the notifier forgets what is over", () => {
  const dir = tempDir();
  let state: StateStore;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    state = await openStateStore(dir.path);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
    await state.close();
    dir.remove();
  });

  it("reminders of alerts no longer firing, and expired silences (fake time, a real receiver)", async () => {
    let now = Date.parse("2025-11-21T20:00:00+08:00");
    const store = alertStore(state.db);
    const engine = createAlertEngine({
      clock: () => now,
      persist: (a) => store.putAlert(a),
      history: { get: (id) => store.getAlert(id), resolved: (q) => store.resolvedAlerts(q) },
    });
    const n = createNotifier({
      engine,
      store,
      clock: () => now,
      log: createLogger("silent"),
      messages: createMessages(),
      options: { groupMs: 60_000, remindMs: 3600_000 },
      publish: async () => undefined,
    });
    try {
      await n.load();
      await n.addChannel({ name: "hook", type: "webhook", url: `${receiver.url}/hook`, towns: ["来苏镇"] });
      const raised = Array.from({ length: 30 }, (_, i) => engine.observe(`R-${i}`, "dark", true, ctx("来苏镇")) as Alert);
      now += 61_000;
      await n.tick();
      expect(receiver.got).toHaveLength(1); // the 30 in one message
      now += 3600_000;
      await n.tick();
      expect(receiver.got).toHaveLength(2); // a reminder of the 30
      expect(n.held()).toMatchObject({ pending: 0, reminders: 30 });

      for (const a of raised.slice(0, 20)) engine.observe(a.deviceId, "dark", false, ctx("来苏镇"));
      for (const a of raised.slice(20, 25)) await engine.ack(a.id, "王工");
      await n.addSilence({ deviceId: "R-29", until: new Date(now + 1800_000), reason: "检修" }, "admin");
      await n.addSilence({ deviceId: "R-28", until: new Date(now + 7200_000), reason: "检修" }, "admin");
      now += 61_000;
      await n.tick(); // sends the resolution note
      expect(n.held()).toEqual({ pending: 0, reminders: 5, silences: 2, retries: 0 });
      now += 3600_000;
      await n.tick(); // R-29's silence is over; R-25…R-27 and R-29 are recalled
      expect(n.held()).toEqual({ pending: 0, reminders: 5, silences: 1, retries: 0 });
      const last = JSON.parse(receiver.got.at(-1)?.body ?? "{}") as { kind: string; alerts: { deviceId: string }[] };
      expect(last).toMatchObject({ kind: "reminder" });
      expect(last.alerts.map((a) => a.deviceId).sort()).toEqual(["R-25", "R-26", "R-27", "R-29"]);
      expect(n.silences().map((s) => s.deviceId)).toEqual(["R-28"]);
      // a restart does not load the expired one either
      const again = createNotifier({
        engine,
        store,
        clock: () => now,
        log: createLogger("silent"),
        messages: createMessages(),
        publish: async () => undefined,
      });
      await again.load();
      expect(again.held().silences).toBe(1);
      again.stop();
    } finally {
      n.stop();
    }
  });
});
