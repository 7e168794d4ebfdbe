import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topics } from "../devices/index.js";
import { connectDevice, publish, reading, registerLight, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";
import { newControlState, obeyCommands } from "../simulators/obey.js";
import { checkOutcome } from "../src/control/estimate.js";
import { controlStore, type LightCommand } from "../src/control/store.js";
import { addDays, chinaDate } from "../src/platform/clock.js";
import { openStateStore } from "../src/state.js";
import { nightOf, type Profile } from "../src/streetlights/expectation.js";
import type { NightRecord } from "../src/streetlights/nightly.js";
import { nightStore } from "../src/streetlights/store.js";

/**
 * Issue 22, after the campaigns: commands resent to lights that reconnect stay within the rate limit; finished
 * commands are pruned by the retention job; a past night is judged by the profile the light had applied that night;
 * a campaign's estimate is checked against what its lights then reported.
 */
const TOWN = "来苏镇";
const VILLAGE = "梳妆台村";
const DAY = 86_400_000;

describe("commands resent to lights that reconnect", () => {
  const RATE = 10;
  const N = 60;
  let t: TestApp;
  const secrets = new Map<string, string>();
  const clients: MqttClient[] = [];
  const id = (i: number) => `RC-${String(i).padStart(3, "0")}`;
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_CONTROL_RATE_PER_S: String(RATE) });
    const rows = Array.from({ length: N }, (_, i) => `${id(i)},streetlight,${TOWN},${VILLAGE},29.35,105.91,30`);
    const res = await t.api("/api/v1/devices/import", {
      method: "POST",
      body: `id,family,town,village,lat,lon,lampW\n${rows.join("\n")}\n`,
      headers: { "content-type": "text/csv" },
    });
    expect(res.status).toBe(201);
    for (const d of ((await res.json()) as { devices: { id: string; secret: string }[] }).devices) secrets.set(d.id, d.secret);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await t.stop();
  });

  it("go out within AGRILUME_CONTROL_RATE_PER_S when the lights of a village all come back at once (counted at the broker)", async () => {
    // a campaign while every light is off (a power cut): nothing can be sent, everything waits for the lights
    const k = (await (
      await t.api("/api/v1/control/campaigns", {
        method: "POST",
        body: JSON.stringify({
          name: "停电后",
          target: { town: TOWN, village: VILLAGE },
          command: { name: "override", override: { action: "dim", pct: 30, minutes: 60 } },
        }),
      })
    ).json()) as { id: string; counts: Record<string, number> };
    expect(k.counts).toMatchObject({ lights: N, waitingOffline: N, sent: 0 });
    // every command the broker is handed by the service, when (aedes' own event, before the publish is done)
    const sentAt: number[] = [];
    const broker = t.app.broker?.broker;
    if (!broker) throw new Error("the embedded broker runs in this test");
    broker.on("publish", (packet, client) => {
      if (!client && packet.topic.includes("/cmd/")) sentAt.push(performance.now());
    });
    // the power comes back: all the lights connect together
    const got = new Map<string, number>();
    clients.push(
      ...(await Promise.all(
        [...secrets].map(async ([lightId, secret]) => {
          const c = await connectDevice(t, { id: lightId, secret }, { connectTimeout: 60_000 }); // (60 secrets checked at once)
          c.on("message", (topic) => {
            if (topic.includes("/cmd/")) got.set(lightId, (got.get(lightId) ?? 0) + 1);
          });
          await obeyCommands(c, lightId, newControlState());
          return c;
        }),
      )),
    );
    const done = await waitUntil(
      async () => {
        const s = (await (await t.api(`/api/v1/control/campaigns/${k.id}`)).json()) as { counts: Record<string, number> };
        return s.counts.applied === N ? s.counts : false;
      },
      "every light's answer",
      120_000,
    );
    expect(done).toMatchObject({ sent: N, applied: N, waitingOffline: 0 });
    // each light got its command once, and the broker never more than RATE in any second
    expect(sentAt).toHaveLength(N);
    expect([...got.values()]).toEqual(Array.from({ length: N }, () => 1));
    sentAt.sort((a, b) => a - b);
    for (let i = 0; i + RATE < sentAt.length; i++) expect((sentAt[i + RATE] as number) - (sentAt[i] as number)).toBeGreaterThanOrEqual(1000);
  }, 180_000);
});

describe("finished commands are pruned by the retention job", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_CONTROL_COMMAND_RETENTION: "400d" });
  });
  afterAll(async () => {
    await t.stop();
  });

  it("deletes commands finished more than 400 days ago and their emptied campaign; keeps pending ones, recent ones, and other campaigns", async () => {
    const store = controlStore(t.app.state.db);
    const now = Date.now();
    const cmd = (id: string, ageDays: number, state: LightCommand["state"], campaignId: string | null = null): LightCommand => ({
      id,
      deviceId: "L-PRUNE",
      town: TOWN,
      campaignId,
      name: "override",
      body: { action: "on", minutes: 5 },
      state,
      createdBy: "王工",
      createdAt: now - ageDays * DAY,
      sentAt: state === "created" ? null : now - ageDays * DAY,
      sends: state === "created" ? 0 : 1,
      answeredAt: state === "created" || state === "sent" ? null : now - ageDays * DAY + 1000,
      expiresAt: now - ageDays * DAY + 3 * DAY,
      reason: state === "rejected" ? "unsupported" : null,
    });
    await store.writeCommands([
      cmd("old-applied", 500, "applied", "K-OLD"),
      cmd("old-rejected", 401, "rejected", "K-OLD"),
      cmd("old-expired", 420, "expired"),
      cmd("old-sent", 450, "sent"), // unanswered, never expired (a stopped service): not finished, kept
      cmd("recent-applied", 399, "applied", "K-NEW"),
      cmd("new", 1, "applied"),
    ]);
    const campaign = (id: string, ageDays: number) =>
      store.putCampaign({
        id,
        name: id,
        target: { town: TOWN },
        town: TOWN,
        command: { name: "override", body: {} },
        state: "done",
        createdBy: "王工",
        createdAt: now - ageDays * DAY,
        expiresAt: now - ageDays * DAY + 3 * DAY,
        lights: 1,
        estimate: null,
      });
    await campaign("K-OLD", 501);
    await campaign("K-NEW", 400);
    await t.app.runRetention();
    const left = (await store.list({ deviceId: "L-PRUNE", limit: 10 })).map((c) => c.id).sort();
    expect(left).toEqual(["new", "old-sent", "recent-applied"]);
    expect(await store.campaign("K-OLD")).toBeUndefined();
    expect((await store.campaign("K-NEW"))?.id).toBe("K-NEW");
  });

  it("refuses a retention under 90 days, with the reason", async () => {
    const { loadConfig } = await import("../src/platform/config.js");
    const r = loadConfig({ AGRILUME_CONTROL_COMMAND_RETENTION: "30d" });
    expect(r.ok).toBe(false);
    expect(r.ok ? "" : r.errors.join("\n")).toMatch(/AGRILUME_CONTROL_COMMAND_RETENTION：至少 90d/);
  });
});

describe("a past night is judged by the profile the light had applied that night", () => {
  const FOUR_HOURS: Profile = { mode: "dusk_plus", hours: 4, stages: [{ afterDuskH: 0, pct: 100 }] };
  const ALL_NIGHT: Profile = { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct: 100 }] };
  const LAT = 29.3512;
  const LON = 105.9113;

  it("a light that changes its profile today still has last night judged by the profile it ran then, after a restart too", async () => {
    const dir = tempDir();
    const now = Date.now();
    // the latest night that has ended (plus the 15-minute band and the pass's margin)
    let date = addDays(chinaDate(now), -1);
    if (nightOf(date, LAT, LON, ALL_NIGHT).end + 40 * 60_000 > now) date = addDays(date, -1);
    const night = nightOf(date, LAT, LON, ALL_NIGHT);
    let creds: { id: string; secret: string };
    // the light applied the four-hour profile days ago (its confirmed answer, as the control service records it)
    const first = await startTestApp({}, dir.path);
    try {
      creds = await registerLight(first, "L-HIST", { lat: LAT, lon: LON });
      await controlStore(first.app.state.db).writeAnswers([], [], null, [
        { deviceId: "L-HIST", at: night.dusk - 3 * DAY, commandId: "C-OLD", body: FOUR_HOURS },
      ]);
    } finally {
      await first.app.stop();
    }
    const t = await startTestApp({}, dir.path);
    try {
      const client = await connectDevice(t, creds);
      await obeyCommands(client, creds.id, newControlState());
      // today it is sent, and applies, the all-night profile
      const res = await t.api("/api/v1/control/commands", {
        method: "POST",
        body: JSON.stringify({ deviceId: creds.id, command: { name: "profile", profile: ALL_NIGHT } }),
      });
      expect(res.status).toBe(201);
      await waitUntil(
        async () => ((await (await t.api(`/api/v1/streetlights/${creds.id}/control`)).json()) as { judgedBy: string }).judgedBy === "applied",
        "the new profile applied",
      );
      // its readings of that night: lit at full power from dusk, every 5 minutes, to dawn
      const topic = topics.uplink("streetlight", creds.id, "telemetry");
      for (let ts = night.dusk - 30 * 60_000; ts <= night.dawn + 30 * 60_000; ts += 5 * 60_000) {
        const lit = ts >= night.dusk && ts < night.dusk + 4 * 3600_000;
        await publish(
          client,
          topic,
          JSON.stringify(
            reading(ts, { load: { on: lit, w: lit ? 30 : 0, a: lit ? 2.4 : 0, dimPct: lit ? 100 : 0 }, gps: { lat: LAT, lon: LON, accM: 3 } }),
          ),
        );
      }
      await waitUntil(async () => (await t.app.telemetry.count({ deviceId: creds.id })) > 100, "the night's readings stored");
      await t.app.streetlights.runNightly();
      const [rec] = await nightStore(t.app.state.db).on(date, [creds.id]);
      // judged by the four hours it ran that night: lit, 240 expected minutes; by today's profile it would be ~11 h and not lit
      expect(rec).toMatchObject({ expectedMin: 240, classification: "lit" });
      // and the profile it runs now is what it is judged by from now on
      expect(t.app.control.profileAt(creds.id, now + 60_000)).toEqual(ALL_NIGHT);
      expect(t.app.control.profileAt(creds.id, night.dusk)).toEqual(FOUR_HOURS);
      expect(t.app.control.profileAt(creds.id, night.dusk - 4 * DAY)).toBeNull();
      client.end(true);
    } finally {
      await t.stop();
      dir.remove();
    }
  }, 60_000);
});

describe("a campaign's estimate checked afterwards", () => {
  const WINTER: Profile = {
    mode: "dusk_to_dawn",
    stages: [
      { afterDuskH: 0, pct: 100 },
      { afterDuskH: 4, pct: 50 },
      { beforeDawnH: 1, pct: 100 },
    ],
  };

  it("compares the lights' nightly load, PV and autonomy since they applied it with the model and with the nights before", async () => {
    const state = await openStateStore(":memory:");
    try {
      const nights = nightStore(state.db);
      const now = Date.parse("2026-11-30T04:00:00Z");
      const created = Date.parse("2026-11-20T04:00:00Z"); // 12:00 China time, before that day's dusk
      const light = (id: string, attrs: Record<string, unknown> = {}) =>
        ({
          id,
          family: "streetlight",
          town: TOWN,
          village: VILLAGE,
          station: null,
          lat: 29.35,
          lon: 105.91,
          attrs: { lampW: 30, batteryAh: 100, ...attrs },
          createdAt: 0,
        }) as never;
      const ds = [light("A"), light("B", { batteryChemistry: "lifepo4" }), light("C")];
      const rec = (deviceId: string, date: string, loadWh: number, pvWh: number | null): NightRecord => {
        const n = nightOf(date, 29.35, 105.91, WINTER);
        return {
          deviceId,
          date,
          dusk: new Date(n.dusk).toISOString(),
          dawn: new Date(n.dawn).toISOString(),
          expectedMin: 600,
          litMin: 600,
          coveredMin: 600,
          loadWh,
          pvWhDayBefore: pvWh,
          switchOns: 1,
          classification: "lit",
          flags: [],
          lastTs: null,
          gps: null,
        };
      };
      const records: NightRecord[] = [];
      for (let d = 1; d <= 7; d++) records.push(rec("A", addDays("2026-11-20", -d), 300, 400), rec("B", addDays("2026-11-20", -d), 300, 400));
      for (let d = 0; d < 9; d++) records.push(rec("A", addDays("2026-11-20", d), 200, 400), rec("B", addDays("2026-11-20", d), 240, 200));
      records.push(rec("A", "2026-11-30", 1, 1)); // tonight's (not a whole night yet): not counted
      await nights.write(records);
      // A and B applied it before the first night's dusk; C never applied it
      const appliedAt = new Map([
        ["A", created + 60_000],
        ["B", created + 60_000],
      ]);
      const o = await checkOutcome(ds, appliedAt, WINTER, created, nights, now);
      expect(o).toMatchObject({
        nightsFrom: "2026-11-20",
        nightsTo: "2026-11-29",
        lights: 2,
        nights: 18,
        loadKWh: 0.4, // 200 + 240 Wh a night
        pvKWh: 0.6,
        loadBeforeKWh: 0.6,
        savingPct: 26.7, // (600 − 440) / 600
        lightsShortOfPv: 1, // B: 200 Wh of PV for 240 Wh of load
      });
      // 100 Ah × 12 V usable: lead-acid half (600 Wh ÷ 200 = 3 days), LiFePO4 80 % (960 ÷ 240 = 4 days); median of two: the lower
      expect(o.autonomyDays).toBe(3);
      // the model at the winter profile for two 30 W lamps, the same nights: measured against it
      expect(o.modelledLoadKWh).toBeGreaterThan(0.4);
      expect(o.modelledLoadKWh).toBeLessThanOrEqual(0.6);
      expect(o.loadVsModelPct).toBeLessThan(0); // they drew less than the model said
      expect(o.loadVsModelPct).toBeGreaterThan(-50);
      // before any light answered: nothing measured yet
      expect(await checkOutcome(ds, new Map(), WINTER, created, nights, now)).toMatchObject({ lights: 0, loadKWh: null, autonomyDays: null });
    } finally {
      await state.close();
    }
  });
});
