import { describe, expect, it } from "vitest";
import { topics } from "../devices/index.js";
import { connectDevice, publish, reading, registerLight, startTestApp, waitUntil } from "../harness/helpers.js";
import { alertStore } from "../src/alerts/store.js";
import { openStateStore } from "../src/state.js";

/** The state tables pruned by the retention job (docs/DATA.md); the rest are evidence and kept. */
describe("state retention", () => {
  const DAY = 86_400_000;
  const NOW = Date.UTC(2026, 10, 30, 4);

  it("deletes presence events before the cutoff but keeps each device's newest online one (it has connected once)", async () => {
    const state = await openStateStore(":memory:");
    try {
      const at = (days: number) => NOW - days * DAY;
      await state.presence.insertPresenceEvents([
        { deviceId: "L1", online: true, cause: "connect", at: at(900) },
        { deviceId: "L1", online: false, cause: "timeout", at: at(899) },
        { deviceId: "L1", online: true, cause: "connect", at: at(800) },
        { deviceId: "L1", online: false, cause: "timeout", at: at(799) },
        { deviceId: "L2", online: true, cause: "connect", at: at(900) },
        { deviceId: "L2", online: true, cause: "connect", at: at(1) },
        { deviceId: "L3", online: false, cause: "timeout", at: at(900) },
      ]);
      await state.presence.prunePresenceEvents(NOW - 728 * DAY);
      const events = async (id: string) => (await state.presence.presenceEvents(id, 10)).map((e) => [e.online, (NOW - e.at) / DAY]);
      expect(await events("L1")).toEqual([[true, 800]]);
      expect(await events("L2")).toEqual([[true, 1]]);
      expect(await events("L3")).toEqual([]);
      expect([...(await state.presence.devicesSeen())].sort()).toEqual(["L1", "L2"]);
    } finally {
      await state.close();
    }
  });

  it("deletes delivery records made before the cutoff, never a pending one", async () => {
    const state = await openStateStore(":memory:");
    try {
      const store = alertStore(state.db);
      const d = (id: string, status: string, days: number) =>
        store.putDelivery(id, "c1", { id, channelId: "c1", status, attempts: 1, createdAt: NOW - days * DAY, sentAt: null });
      await d("old-sent", "sent", 100);
      await d("old-failed", "failed", 91);
      await d("old-pending", "pending", 100);
      await d("new-sent", "sent", 10);
      await store.pruneDeliveries(NOW - 90 * DAY);
      expect((await store.deliveries<{ id: string }>("c1", 10)).map((x) => x.id).sort()).toEqual(["new-sent", "old-pending"]);
    } finally {
      await state.close();
    }
  });
});

describe("the service's retention job", () => {
  it("folds readings sent late over MQTT, past the raw retention, into rollups the API answers from; prunes presence history", async () => {
    const t = await startTestApp({ AGRILUME_EMBEDDED_RAW_RETENTION: "10d", AGRILUME_EMBEDDED_HOURLY_RETENTION: "4w" });
    try {
      const creds = await registerLight(t, "L-RET-1");
      const client = await connectDevice(t, creds);
      const DAY = 86_400_000;
      const old = Date.now() - 20 * DAY;
      const topic = topics.uplink("streetlight", creds.id, "telemetry");
      for (const [i, soc] of [60, 70, 80].entries())
        await publish(client, topic, JSON.stringify(reading(old + i * 300_000, { battery: { v: 12.9, soc, tempC: 14 } })));
      await publish(client, topic, JSON.stringify(reading(Date.now() - 1000)));
      client.end(true);
      await waitUntil(async () => (await t.app.telemetry.count({ deviceId: "L-RET-1" })) === 4, "readings stored");
      await waitUntil(async () => {
        await t.app.presence.flush();
        return (await t.app.state.presence.presenceEvents("L-RET-1", 10)).some((e) => e.online);
      }, "its connection recorded");
      await t.app.state.presence.insertPresenceEvents([{ deviceId: "L-RET-1", online: false, cause: "timeout", at: Date.now() - 40 * DAY }]);

      expect(await t.app.runRetention()).toMatchObject({ rolledUp: 3 });
      expect(await t.app.telemetry.count({ deviceId: "L-RET-1" })).toBe(1);
      const range = `from=${new Date(old - DAY).toISOString()}&to=${new Date(old + DAY).toISOString()}`;
      const raw = (await (await t.api(`/api/v1/devices/L-RET-1/telemetry?${range}`)).json()) as { readings: unknown[] };
      expect(raw.readings).toEqual([]);
      const daily = (await (await t.api(`/api/v1/devices/L-RET-1/telemetry?${range}&every=day&fields=battery.soc`)).json()) as {
        buckets: { field: string; min: number; avg: number; max: number; last: number; count: number }[];
      };
      expect(daily.buckets).toMatchObject([{ field: "battery.soc", min: 60, avg: 70, max: 80, last: 80, count: 3 }]);
      const events = await t.app.state.presence.presenceEvents("L-RET-1", 10);
      expect(events.map((e) => e.cause)).not.toContain("timeout"); // the 40-day-old event, past 4 weeks
      expect(events.some((e) => e.online)).toBe(true);
    } finally {
      await t.stop();
    }
  }, 120_000);
});
