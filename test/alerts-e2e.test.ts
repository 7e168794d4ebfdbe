import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectDevice,
  publish,
  type Received,
  readSse,
  registerLight,
  startReceiver,
  startTestApp,
  type TestApp,
  waitUntil,
} from "../harness/helpers.js";
import { newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { DEFAULT_PROFILE, localDate, nightOf } from "../src/streetlights/expectation.js";

describe("an outage end to end: a light goes dark, the technician hears once, acknowledges, the repair resolves it", () => {
  let t: TestApp;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let got: Received[];
  beforeAll(async () => {
    receiver = await startReceiver();
    got = receiver.got;
    t = await startTestApp({ AGRILUME_ALERT_GROUP_S: "1" });
  });
  afterAll(async () => {
    await t.stop();
    await receiver.close();
  });

  it("one message, the ack in the history, a resolution note", async () => {
    const url = `${receiver.url}/hook`;
    const ch = await t.api("/api/v1/channels", {
      method: "POST",
      body: JSON.stringify({ name: "来苏镇技术员", type: "webhook", url, secret: "k", towns: ["来苏镇"] }),
    });
    expect(ch.status).toBe(201);
    const tech = (
      (await (
        await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name: "王工", role: "technician", towns: ["来苏镇"] }) })
      ).json()) as { key: string }
    ).key;

    const spec = { id: "E2E-1", lat: 29.3512, lon: 105.9113, lampW: 30, panelWp: 120, batteryAh: 60, fault: "failed_lamp" as const };
    const creds = await registerLight(t, spec.id);
    const client = await connectDevice(t, creds);
    // last night, from an hour after dusk: the lamp draws nothing
    const n = nightOf(localDate(Date.now() - 86_400_000), spec.lat, spec.lon, DEFAULT_PROFILE);
    const from = n.dusk + 3600_000;
    const physics = newPhysics(spec);
    for (let ts = from; ts <= from + 30 * 60_000; ts += 5 * 60_000)
      await publish(client, "streetlight/E2E-1/telemetry", JSON.stringify(streetlightReading(spec, physics, ts, 300)));

    await waitUntil(() => got.length >= 1, "the alert at the receiver", 20_000);
    const first = JSON.parse(got[0]?.body ?? "{}") as { kind: string; alerts: { id: string; deviceId: string; type: string }[] };
    expect(first).toMatchObject({ kind: "fired", alerts: [{ deviceId: "E2E-1", type: "dark" }] });
    const ts = String(got[0]?.headers["x-agrilume-timestamp"]);
    expect(got[0]?.headers["x-agrilume-signature"]).toBe(`sha256=${createHmac("sha256", "k").update(`${ts}.${got[0]?.body}`).digest("hex")}`);
    const id = first.alerts[0]?.id ?? "";

    // more dark readings: still one alert, no second message
    for (let ts = from + 35 * 60_000; ts <= from + 50 * 60_000; ts += 5 * 60_000)
      await publish(client, "streetlight/E2E-1/telemetry", JSON.stringify(streetlightReading(spec, physics, ts, 300)));
    const open = (await (await t.api("/api/v1/alerts?state=open", { key: tech })).json()) as { alerts: { id: string; state: string }[] };
    expect(open.alerts.map((a) => a.id)).toEqual([id]);

    // the technician's live stream sees the acknowledgement
    const ac = new AbortController();
    const stream = await t.api(`/api/v1/alerts/stream?key=${encodeURIComponent(tech)}`, { key: null, signal: ac.signal });
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    const seen: { id: string; state: string }[] = [];
    const reading = readSse(stream, (e) => seen.push(e as { id: string; state: string }));
    const ack = await t.api(`/api/v1/alerts/${id}/ack`, { method: "POST", body: JSON.stringify({ comment: "在路上" }), key: tech });
    expect(await ack.json()).toMatchObject({
      state: "acknowledged",
      history: [{ action: "fired" }, { action: "acknowledged", who: "王工", text: "在路上" }],
    });
    await waitUntil(() => seen.some((e) => e.id === id && e.state === "acknowledged"), "the acknowledgement on the live stream");
    ac.abort();
    await reading;

    // the lamp is replaced: lit readings resolve the alert, and a note goes out
    const fixed = { ...spec, fault: null };
    for (let ts = from + 60 * 60_000; ts <= from + 70 * 60_000; ts += 5 * 60_000)
      await publish(client, "streetlight/E2E-1/telemetry", JSON.stringify(streetlightReading(fixed, physics, ts, 300)));
    await waitUntil(
      async () => ((await (await t.api(`/api/v1/alerts/${id}`, { key: tech })).json()) as { state: string }).state === "resolved",
      "resolved",
      20_000,
    );
    await waitUntil(() => got.some((g) => (JSON.parse(g.body) as { kind: string }).kind === "resolved"), "the resolution note", 20_000);
    expect(got.filter((g) => (JSON.parse(g.body) as { kind: string }).kind === "fired")).toHaveLength(1);
    const deliveries = (await (await t.api(`/api/v1/channels/${((await ch.json()) as { id: string }).id}/deliveries`)).json()) as {
      deliveries: { status: string }[];
    };
    expect(deliveries.deliveries.every((d) => d.status === "sent")).toBe(true);
    client.end();

    // a row written before messages were data: its English detail is still shown, as it was written
    const old = {
      id: "OLD-1",
      deviceId: "E2E-OLD",
      family: "streetlight",
      type: "dark",
      severity: "major",
      state: "firing",
      since: Date.now() - 86_400_000,
      resolvedAt: null,
      town: "来苏镇",
      village: "梳妆台村",
      station: null,
      detail: "4 W, expected 30 W",
      assignee: null,
      suppressedBy: null,
      history: [{ at: Date.now() - 86_400_000, who: "system", action: "fired", text: "4 W, expected 30 W" }],
    };
    await t.app.state.db.run("INSERT INTO alerts (id, state, body) VALUES (?, ?, ?)", ["OLD-1", "firing", JSON.stringify(old)]);

    // alert state survives a restart of the service
    const dataDir = t.dataDir;
    await t.app.stop();
    t = await startTestApp({ AGRILUME_ALERT_GROUP_S: "1" }, dataDir);
    const after = (await (await t.api(`/api/v1/alerts/${id}`, { key: tech })).json()) as {
      state: string;
      detail: string;
      detailCode: string;
      history: { action: string; who: string; text?: string; textCode?: string }[];
    };
    expect(after.state).toBe("resolved");
    expect(after.history.map((h) => `${h.action}:${h.who}`)).toEqual(["fired:system", "acknowledged:王工", "resolved:system"]);
    // written as codes: the rule's detail and the system's history read in the reader's language
    expect(after).toMatchObject({ detailCode: "lamp_power_low", detail: expect.stringMatching(/^功率 [\d.]+ W，应为 30 W$/) });
    expect(after.history[2]).toMatchObject({ text: "已恢复", textCode: "condition_cleared" });
    const earlier = (await (await t.api("/api/v1/alerts/OLD-1", { key: tech })).json()) as typeof after;
    expect(earlier).toMatchObject({ detail: "4 W, expected 30 W", detailCode: "legacy_text" });
    expect(earlier.history[0]).toMatchObject({ text: "4 W, expected 30 W", textCode: "legacy_text" });
  });
});

describe("a dead receiver", () => {
  it("does not hold up ingest: readings are acknowledged and stored while a delivery hangs", async () => {
    const { createServer: createTcpServer } = await import("node:net");
    const sockets: import("node:net").Socket[] = [];
    const blackHole = createTcpServer((socket) => {
      sockets.push(socket); // accepts, never answers
    });
    await new Promise<void>((r) => blackHole.listen(0, "127.0.0.1", () => r()));
    const port = (blackHole.address() as import("node:net").AddressInfo).port;
    const t = await startTestApp({ AGRILUME_ALERT_GROUP_S: "1" });
    try {
      const ch = (await (
        await t.api("/api/v1/channels", {
          method: "POST",
          body: JSON.stringify({ type: "webhook", url: `http://127.0.0.1:${port}/`, towns: ["来苏镇"] }),
        })
      ).json()) as { id: string };
      const dark = await registerLight(t, "DEAD-1");
      const other = await registerLight(t, "BUSY-1");
      const spec = { id: "DEAD-1", lat: 29.3512, lon: 105.9113, lampW: 30, panelWp: 120, batteryAh: 60, fault: "failed_lamp" as const };
      const n = nightOf(localDate(Date.now() - 86_400_000), spec.lat, spec.lon, DEFAULT_PROFILE);
      const c1 = await connectDevice(t, dark);
      const physics = newPhysics(spec);
      for (let ts = n.dusk + 3600_000; ts <= n.dusk + 3600_000 + 20 * 60_000; ts += 5 * 60_000)
        await publish(c1, "streetlight/DEAD-1/telemetry", JSON.stringify(streetlightReading(spec, physics, ts, 300)));
      await waitUntil(() => sockets.length > 0, "a delivery under way to the dead receiver", 20_000);
      // while it hangs, another light's readings go through
      const c2 = await connectDevice(t, other);
      const healthy = { ...spec, id: "BUSY-1", fault: null };
      const p2 = newPhysics(healthy);
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          publish(c2, "streetlight/BUSY-1/telemetry", JSON.stringify(streetlightReading(healthy, p2, n.dusk + 7200_000 + i * 1000, 1))),
        ),
      );
      await t.app.writer.waitFor(t.app.wal.lastSeq());
      expect(await t.app.telemetry.count({ deviceId: "BUSY-1", measurement: "streetlight_telemetry" })).toBe(200);
      const during = (await (await t.api(`/api/v1/channels/${ch.id}/deliveries`)).json()) as { deliveries: unknown[] };
      expect(during.deliveries).toEqual([]); // the attempt is still hanging: ingest did not wait for it
      // the attempt times out and is recorded, to be retried
      await waitUntil(
        async () => ((await (await t.api(`/api/v1/channels/${ch.id}/deliveries`)).json()) as { deliveries: unknown[] }).deliveries.length > 0,
        "the failed attempt recorded",
        30_000,
      );
      c1.end(true);
      c2.end(true);
    } finally {
      await t.stop();
      for (const s of sockets) s.destroy();
      blackHole.close();
    }
  });
});
