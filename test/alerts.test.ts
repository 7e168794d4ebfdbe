import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Received, startReceiver, tempDir } from "../harness/helpers.js";
import { type Alert, createAlertEngine } from "../src/alerts/engine.js";
import { createBlendingFeed, createLightFeed } from "../src/alerts/feeds.js";
import { createNotifier } from "../src/alerts/notifier.js";
import { alertStore } from "../src/alerts/store.js";
import { blendingMessage } from "../src/blending/messages.js";
import { createMessages } from "../src/messages.js";
import { createLogger } from "../src/platform/log.js";
import { createRegistry, DeviceInputSchema } from "../src/registry/registry.js";
import { openStateStore, type StateStore } from "../src/state.js";
import { streetlightMessage } from "../src/streetlights/messages.js";

const ctx = {
  family: "streetlight" as const,
  town: "来苏镇",
  village: "梳妆台村",
  station: null,
  detail: streetlightMessage("lamp_power_low", { w: 4, expectedW: 30 }),
};
const flat = streetlightMessage("lamp_off_battery_low", { v: 10.9 });
const dark = streetlightMessage("lamp_power_low", { w: 0, expectedW: 30 });

describe("alert lifecycle (fake time)", () => {
  it("fires once per device and type, acknowledges, resolves on clearing, and fires anew after", () => {
    let now = 1_000;
    const saved: Alert[] = [];
    const e = createAlertEngine({ clock: () => now, persist: (a) => saved.push(structuredClone(a)) });
    const a = e.observe("L1", "dark", true, ctx);
    // the same condition reported again, from many messages at once: still one alert
    for (let i = 0; i < 100; i++) expect(e.observe("L1", "dark", true, ctx)).toBeNull();
    expect(e.list()).toHaveLength(1);
    now = 2_000;
    e.ack(a?.id ?? "", "王工", "on my way");
    expect(e.get(a?.id ?? "")?.state).toBe("acknowledged");
    now = 3_000;
    e.observe("L1", "dark", false, ctx);
    expect(e.get(a?.id ?? "")).toMatchObject({ state: "resolved", resolvedAt: 3_000 });
    expect(e.get(a?.id ?? "")?.history.map((h) => [h.action, h.who, h.at])).toEqual([
      ["fired", "system", 1_000],
      ["acknowledged", "王工", 2_000],
      ["resolved", "system", 3_000],
    ]);
    const again = e.observe("L1", "dark", true, ctx);
    expect(again?.id).not.toBe(a?.id);
    expect(saved.length).toBe(4);
  });

  it("resolves by hand with a comment, assigns, and survives a restart", async () => {
    const saved = new Map<string, Alert>();
    const e = createAlertEngine({ clock: () => 5, persist: (a) => saved.set(a.id, structuredClone(a)) });
    const a = e.observe("L2", "offline", true, ctx) as Alert;
    e.assign(a.id, "admin", "李师傅");
    const b = e.observe("L3", "moved", true, ctx) as Alert;
    e.resolve(b.id, "李师傅", "pole put back");
    // the resolved alert is read back from the store, as the app's engine reads it from the state store
    const history = { get: async (id: string) => saved.get(id), resolved: async () => [] };
    const restarted = createAlertEngine({ clock: () => 9, persist: () => undefined, initial: [...saved.values()], history });
    expect(restarted.openFor("L2", "offline")).toMatchObject({ id: a.id, assignee: "李师傅", state: "firing" });
    expect(restarted.openFor("L3", "moved")).toBeUndefined();
    expect((await restarted.find(b.id))?.history.at(-1)).toMatchObject({ action: "resolved", who: "李师傅", text: "pole put back" });
    expect(restarted.observe("L2", "offline", true, ctx)).toBeNull(); // no duplicate after the restart
  });
});

describe("blending conditions to alerts", () => {
  it("fires what is active, keeps it while it stays, resolves what cleared", async () => {
    const dir = tempDir();
    const state = await openStateStore(dir.path);
    try {
      const registry = await createRegistry(state.devices);
      const e = createAlertEngine({ clock: () => 0, persist: () => undefined });
      const feed = createBlendingFeed({ engine: e, registry });
      const stalled = {
        type: "stalled" as const,
        station: "qj",
        machineId: "M1",
        since: "",
        detail: blendingMessage("scale_still", { kg: 500, seconds: 200 }),
      };
      const late = {
        type: "behind_schedule" as const,
        station: "qj",
        orderId: "ORD-1",
        since: "",
        detail: blendingMessage("finish_after_due", { eta: "2026-12-01T16:00:19.000Z", dueDate: "2026-11-30" }),
      };
      feed.apply([stalled, late], 1);
      feed.apply([stalled, late], 2);
      expect(e.list().map((a) => [a.deviceId, a.type, a.state, a.station, a.severity])).toEqual([
        ["M1", "stalled", "firing", "qj", "critical"],
        ["ORD-1", "behind_schedule", "firing", "qj", "major"],
      ]);
      feed.apply([late], 3);
      expect(e.openFor("M1", "stalled")).toBeUndefined();
      expect(e.openFor("ORD-1", "behind_schedule")?.state).toBe("firing");
    } finally {
      await state.close();
      dir.remove();
    }
  });
});

describe("inhibition", () => {
  let state: StateStore;
  const dir = tempDir();
  beforeAll(async () => {
    state = await openStateStore(dir.path);
  });
  afterAll(async () => {
    await state.close();
    dir.remove();
  });
  it("energy_limited holds back dark; most of a village out gives one village alert over the per-light ones", async () => {
    const registry = await createRegistry(state.devices);
    const lights = Array.from({ length: 10 }, (_, i) =>
      DeviceInputSchema.parse({ id: `V-${i}`, family: "streetlight", town: "来苏镇", village: "梳妆台村", lat: 29.35, lon: 105.91 + i * 0.001 }),
    );
    await registry.register(lights);
    const e = createAlertEngine({ clock: () => 0, persist: () => undefined });
    const feed = createLightFeed({ engine: e, registry });
    // a light at low-voltage disconnect that then reads as dark: the flat battery is the cause, so dark is held back
    feed.condition("V-0", "energy_limited", flat, 1);
    const limited = e.openFor("V-0", "energy_limited");
    feed.condition("V-0", "dark", dark, 2);
    expect(e.openFor("V-0", "dark")?.suppressedBy).toBe(limited?.id);
    // a dark light with no battery story is not held back
    feed.condition("V-1", "dark", dark, 3);
    expect(e.openFor("V-1", "dark")?.suppressedBy).toBeNull();
    for (const i of [2, 3, 4, 5, 6]) feed.condition(`V-${i}`, "dark", dark, 10 + i);
    const village = e.openFor("village:来苏镇/梳妆台村", "village_outage");
    expect(village).toBeDefined();
    expect(["V-2", "V-3", "V-4", "V-5", "V-6"].map((id) => e.openFor(id, "dark")?.suppressedBy)).toEqual(Array(5).fill(village?.id));
    for (const i of [0, 1, 2, 3, 4, 5]) feed.condition(`V-${i}`, "lit", null, 100 + i);
    expect(e.openFor("village:来苏镇/梳妆台村", "village_outage")).toBeUndefined();
    expect(e.openFor("V-6", "dark")?.suppressedBy).toBeNull(); // released: now it is one light's problem
  });
});

describe("notifications to a real HTTP receiver (fake time)", () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let base = "";
  let got: Received[] = [];
  let failNext = 0;
  const dir = tempDir();
  let state: StateStore;
  beforeAll(async () => {
    receiver = await startReceiver((r) => {
      if (failNext > 0 && r.path === "/flaky") {
        failNext--;
        return { status: 500, body: "busy" };
      }
      return { status: 200, body: r.path === "/webhook" ? "" : '{"errcode":0,"errmsg":"ok"}' };
    });
    base = receiver.url;
    got = receiver.got;
    state = await openStateStore(dir.path);
  });
  afterAll(async () => {
    await receiver.close();
    await state.close();
    dir.remove();
  });

  it("groups, signs as each platform documents, reminds, notes resolutions, honours silences and retries", async () => {
    let now = Date.parse("2025-11-21T20:00:00+08:00");
    const engine = createAlertEngine({ clock: () => now, persist: () => undefined });
    const published: string[] = [];
    const n = createNotifier({
      engine,
      store: alertStore(state.db),
      clock: () => now,
      log: createLogger("silent"),
      messages: createMessages(),
      options: { groupMs: 60_000, remindMs: 3600_000 },
      publish: async (topic) => {
        published.push(topic);
      },
    });
    await n.load();
    await n.addChannel({ name: "hook", type: "webhook", url: `${base}/webhook`, secret: "s3cret", towns: ["来苏镇"] });
    await n.addChannel({ name: "钉钉", type: "dingtalk", url: `${base}/dingtalk?access_token=abc`, secret: "SEC123", towns: ["来苏镇"] });
    await n.addChannel({ name: "企业微信", type: "wecom", url: `${base}/wecom?key=k`, towns: ["来苏镇"], lang: "en" });
    await n.addChannel({ name: "mqtt", type: "mqtt", towns: ["来苏镇"] });
    await n.addChannel({ name: "elsewhere", type: "webhook", url: `${base}/other`, towns: ["朱沱镇"] });

    engine.observe("L1", "dark", true, ctx);
    now += 20_000;
    engine.observe("L2", "dark", true, ctx);
    await n.tick();
    expect(got).toHaveLength(0); // still inside the grouping window
    now += 45_000;
    await n.tick();
    // one message per channel, with both alerts; nothing for the other town
    expect(got.map((g) => g.path).sort()).toEqual(["/dingtalk", "/webhook", "/wecom"]);
    expect(published).toEqual(["alerts/来苏镇/dark", "alerts/来苏镇/dark"]);

    const hook = got.find((g) => g.path === "/webhook") as Received;
    const ts = String(hook.headers["x-agrilume-timestamp"]);
    expect(hook.headers["x-agrilume-signature"]).toBe(`sha256=${createHmac("sha256", "s3cret").update(`${ts}.${hook.body}`).digest("hex")}`);
    expect((JSON.parse(hook.body) as { alerts: { deviceId: string }[] }).alerts.map((a) => a.deviceId)).toEqual(["L1", "L2"]);

    const ding = got.find((g) => g.path === "/dingtalk") as Received;
    const dts = ding.query.get("timestamp") ?? "";
    expect(ding.query.get("sign")).toBe(createHmac("sha256", "SEC123").update(`${dts}\nSEC123`).digest("base64"));
    expect(ding.query.get("access_token")).toBe("abc");
    const dingBody = JSON.parse(ding.body) as { msgtype: string; markdown: { title: string; text: string } };
    // the title is what chat lists preview: plain text, no markdown marks (issue 20 #11); the text keeps its heading
    expect(dingBody).toMatchObject({ msgtype: "markdown", markdown: { title: "新告警 2 条" } });
    expect(dingBody.markdown.text.startsWith("### 新告警 2 条\n")).toBe(true);
    expect(dingBody.markdown.text).toContain("【不亮】来苏镇 梳妆台村 L1");
    // what the rule saw, in Chinese, and when, in China time (20:00 +08:00)
    expect(dingBody.markdown.text.split("\n")).toEqual([
      "### 新告警 2 条",
      "- 【不亮】来苏镇 梳妆台村 L1：功率 4 W，应为 30 W（2025-11-21 20:00 起）",
      "- 【不亮】来苏镇 梳妆台村 L2：功率 4 W，应为 30 W（2025-11-21 20:00 起）",
    ]);

    const wecom = JSON.parse((got.find((g) => g.path === "/wecom") as Received).body) as { msgtype: string; markdown: { content: string } };
    expect(wecom.msgtype).toBe("markdown");
    expect(wecom.markdown.content.split("\n")[0]).toBe("2 new alert(s)");
    expect(wecom.markdown.content).toContain("L2");
    // a channel in English: the same messages in English
    expect(wecom.markdown.content).toContain("- [dark] 来苏镇 梳妆台村 L2: 4 W, expected 30 W (since 2025-11-21 20:00)");
    const hooked = JSON.parse(hook.body) as { alerts: { detail: string; detailCode: string; detailParams: unknown }[] };
    expect(hooked.alerts[0]).toMatchObject({ detail: "功率 4 W，应为 30 W", detailCode: "lamp_power_low", detailParams: { w: 4, expectedW: 30 } });

    // nobody acknowledged L2 within an hour: a reminder; L1 is acknowledged
    got.length = 0;
    engine.ack(engine.openFor("L1", "dark")?.id ?? "", "王工");
    now += 3600_000;
    await n.tick();
    const reminder = JSON.parse((got.find((g) => g.path === "/webhook") as Received).body) as { kind: string; alerts: { deviceId: string }[] };
    expect(reminder).toMatchObject({ kind: "reminder", alerts: [{ deviceId: "L2" }] });

    // resolution note
    got.length = 0;
    engine.observe("L2", "dark", false, ctx);
    now += 61_000;
    await n.tick();
    expect(JSON.parse((got.find((g) => g.path === "/webhook") as Received).body)).toMatchObject({ kind: "resolved" });

    // a silence for the town: recorded, not sent
    got.length = 0;
    await n.addSilence({ town: "来苏镇", until: new Date(now + 3600_000), reason: "电网检修" }, "admin");
    engine.observe("L3", "offline", true, ctx);
    now += 61_000;
    await n.tick();
    expect(got).toHaveLength(0);
    expect(engine.openFor("L3", "offline")).toBeDefined();

    // a receiver that fails: retried with backoff, every attempt recorded
    await n.removeSilence(n.silences()[0]?.id ?? "");
    failNext = 1;
    const only = await n.addChannel({ name: "flaky", type: "webhook", url: `${base}/flaky`, towns: ["朱沱镇"] });
    engine.observe("Z1", "dark", true, { ...ctx, town: "朱沱镇" });
    now += 61_000;
    await n.tick();
    let deliveries = await n.deliveries(only.id, 10);
    expect(deliveries[0]).toMatchObject({ status: "pending", attempts: 1, lastError: "500 busy" });
    now += 2_000;
    await n.tick();
    deliveries = await n.deliveries(only.id, 10);
    expect(deliveries[0]).toMatchObject({ status: "sent", attempts: 2, lastError: null });

    // a channel removed while a delivery waits for its retry: nothing more is sent there, and the delivery ends as failed
    failNext = 1;
    engine.observe("Z2", "dark", true, { ...ctx, town: "朱沱镇" });
    now += 61_000;
    await n.tick();
    expect((await n.deliveries(only.id, 10))[0]).toMatchObject({ status: "pending", attempts: 1 });
    // and a new alert grouped for it, not yet sent
    engine.observe("Z3", "dark", true, { ...ctx, town: "朱沱镇" });
    got.length = 0;
    expect(await n.removeChannel(only.id)).toBe(true);
    now += 61_000;
    await n.tick();
    now += 3600_000;
    await n.tick();
    expect(got.filter((g) => g.path === "/flaky")).toEqual([]);
    expect((await n.deliveries(only.id, 10))[0]).toMatchObject({ status: "failed", attempts: 1, lastError: "channel_removed" });
  });
});

/**
 * Issue 18: what the engine does with a shared store, without the database (test/postgres-shared.test.ts has it with
 * PostgreSQL): another instance's change read back, and its own new alert refused in favour of the one there.
 */
describe("alert engine on a shared store", () => {
  const other = (extra: Partial<Alert> = {}): Alert => ({
    id: "theirs",
    deviceId: "L1",
    family: "streetlight",
    type: "dark",
    severity: "major",
    state: "firing",
    since: 10,
    resolvedAt: null,
    town: "来苏镇",
    village: "梳妆台村",
    station: null,
    detail: null,
    assignee: null,
    suppressedBy: null,
    history: [{ at: 10, who: "system", action: "fired" }],
    ...extra,
  });

  it("takes a change made elsewhere into memory and emits it as made elsewhere; the notifier does not send it", async () => {
    const e = createAlertEngine({ clock: () => 20, persist: () => undefined });
    const seen: [string, string, string][] = [];
    e.events.on("change", (a, h, origin) => seen.push([a.id, h.action, origin]));
    e.refresh(other());
    expect(e.openFor("L1", "dark")?.id).toBe("theirs");
    e.refresh(other({ state: "acknowledged", history: [...other().history, { at: 15, who: "王工", action: "acknowledged" }] }));
    expect(e.get("theirs")?.state).toBe("acknowledged");
    // already known: nothing again
    e.refresh(other({ state: "acknowledged", history: [...other().history, { at: 15, who: "王工", action: "acknowledged" }] }));
    expect(seen).toEqual([
      ["theirs", "fired", "elsewhere"],
      ["theirs", "acknowledged", "elsewhere"],
    ]);
    // resolved elsewhere: it leaves memory, and the condition here fires a new one
    e.refresh(other({ state: "resolved", resolvedAt: 18, history: [...other().history, { at: 18, who: "system", action: "resolved" }] }));
    expect(e.get("theirs")).toBeUndefined();
    expect(e.openFor("L1", "dark")).toBeUndefined();
  });

  it("a new alert refused by the database (another instance's is open) gives way to that one, and is not notified", async () => {
    const refused = Object.assign(new Error('duplicate key value violates unique constraint "alerts_one_open"'), { code: "23505" });
    const e = createAlertEngine({
      clock: () => 20,
      persist: (a) => (a.id === "theirs" || a.deviceId !== "L1" ? undefined : Promise.reject(refused)),
      conflict: { is: (x) => (x as { code?: string }).code === "23505", current: async (deviceId) => (deviceId === "L1" ? other() : undefined) },
    });
    const got: Received[] = [];
    let now = 1_000_000;
    const n = createNotifier({
      engine: e,
      store: { putDelivery: async () => undefined } as never,
      clock: () => now,
      log: createLogger("silent"),
      messages: createMessages(),
      publish: async () => undefined,
      fetchImpl: (async (_url: string, init: RequestInit) => {
        got.push({ body: String(init.body) } as Received);
        return new Response("{}");
      }) as typeof fetch,
    });
    (n as unknown as { channels: () => unknown[] }).channels().push({ id: "c", type: "webhook", url: "http://x/", name: "c", createdAt: 0 });
    const mine = e.observe("L1", "dark", true, ctx, 20);
    expect(mine?.id).not.toBe("theirs");
    await new Promise((r) => setTimeout(r, 10));
    expect(e.openFor("L1", "dark")?.id).toBe("theirs");
    expect(e.get(mine?.id ?? "")).toBeUndefined();
    expect(e.list().map((a) => a.id)).toEqual(["theirs"]);
    // (the refused alert's group is not sent: the instance whose alert it is sends it)
    // another light's alert, opened here and not refused, is sent once its group's window has passed; the refused one is not
    e.observe("L2", "dark", true, ctx, 20);
    now += 120_000;
    await n.tick();
    expect(got).toHaveLength(1);
    expect(JSON.parse(got[0]?.body ?? "{}").alerts.map((a: { deviceId: string }) => a.deviceId)).toEqual(["L2"]);
    // the condition clears here: the adopted alert resolves
    e.observe("L1", "dark", false, ctx, 30);
    expect(e.get("theirs")?.state).toBe("resolved");
  });
});
