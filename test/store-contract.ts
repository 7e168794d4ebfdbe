import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { numericFields } from "../devices/index.js";
import type { StoredReading, TelemetryStore } from "../src/storage/telemetry-store.js";

/**
 * The contract every telemetry store passes. `open` gives a fresh empty store; `reopen`
 * (optional) closes and opens the same one, to show what survives.
 */
export function telemetryStoreContract(name: string, factory: () => Promise<{ open: () => Promise<TelemetryStore>; cleanup: () => void }>) {
  describe(`telemetry store contract: ${name}`, () => {
    let store: TelemetryStore;
    let fx: Awaited<ReturnType<typeof factory>>;
    // Recent (within any retention period) and on the hour, so hourly buckets start at T0; 04:00 UTC (12:00 China time),
    // so the two hours after it lie within one day whether days are counted in UTC or in China time (it was the hour
    // of the run, and the daily test failed whenever the run started at 23:xx UTC).
    const T0 = Math.floor((Date.now() - 3 * 86_400_000) / 86_400_000) * 86_400_000 + 4 * 3600_000;
    let seq = 0;
    const r = (deviceId: string, ts: number, fields: Record<string, number>, measurement = "streetlight_telemetry"): StoredReading => ({
      seq: ++seq,
      measurement,
      deviceId,
      ts,
      receivedAt: ts + 100,
      tags: { town: "来苏镇", village: "梳妆台村" },
      payload: nest(ts, fields),
    });
    /** The payload whose numeric fields (dotted paths) are `fields`: { "pv.w": 2 } → { pv: { w: 2 } }. */
    const nest = (ts: number, fields: Record<string, number>) => {
      const payload: Record<string, unknown> = { ts };
      for (const [path, v] of Object.entries(fields)) {
        const keys = path.split(".");
        let o = payload;
        for (const k of keys.slice(0, -1)) {
          o[k] ??= {};
          o = o[k] as Record<string, unknown>;
        }
        o[keys.at(-1) as string] = v;
      }
      return payload;
    };

    beforeEach(async () => {
      seq = 0;
      fx = await factory();
      store = await fx.open();
    });
    afterEach(async () => {
      await store.close();
      fx.cleanup();
    });

    it("returns raw readings in time order within [from, to)", async () => {
      await store.write(
        [r("L1", T0 + 2000, { "pv.w": 2 }), r("L1", T0, { "pv.w": 0 }), r("L1", T0 + 1000, { "pv.w": 1 }), r("L2", T0, { "pv.w": 9 })],
        4,
      );
      const rows = await store.raw({ deviceId: "L1", from: T0, to: T0 + 2000, limit: 100 });
      expect(rows.map((x) => x.ts)).toEqual([T0, T0 + 1000]);
      expect(rows[0]?.payload).toEqual({ ts: T0, pv: { w: 0 } });
      expect(await store.raw({ deviceId: "L1", from: T0, to: T0 + 3000, limit: 2 })).toHaveLength(2);
    });

    it("stores each (measurement, device, ts) once, within a batch and across batches", async () => {
      await store.write([r("L1", T0, { "pv.w": 1 }), r("L1", T0, { "pv.w": 1 })], 2);
      await store.write([r("L1", T0, { "pv.w": 1 }), r("L1", T0 + 1, { "pv.w": 1 })], 4);
      await store.write([r("L1", T0, { "battery.v": 1 }, "streetlight_status")], 5);
      expect(await store.count({ deviceId: "L1", measurement: "streetlight_telemetry" })).toBe(2);
      expect(await store.count({ deviceId: "L1" })).toBe(3);
      const agg = await store.aggregate({ deviceId: "L1", measurement: "streetlight_telemetry", from: T0, to: T0 + 60_000, every: "minute" });
      expect(agg).toEqual([{ ts: T0, field: "pv.w", min: 1, avg: 1, max: 1, last: 1, count: 2 }]);
    });

    it("stores a batch with a reading days late once, and finds its stored copy again (two time spans, not the days between)", async () => {
      const late = T0 - 13 * 86_400_000;
      const batch = [r("L1", T0, { "pv.w": 1 }), r("L1", T0 + 1000, { "pv.w": 1 }), r("L1", late, { "pv.w": 2 }), r("L2", late, { "pv.w": 3 })];
      await store.write(batch, 10);
      await store.write([...batch, r("L1", late + 1, { "pv.w": 4 })], 11);
      expect(await store.count({ deviceId: "L1", measurement: "streetlight_telemetry" })).toBe(4);
      expect(await store.count({ deviceId: "L2", measurement: "streetlight_telemetry" })).toBe(1);
    });

    it("aggregates per minute, hour and day: min, avg, max, last", async () => {
      const batch = [0, 1, 2, 3].map((i) => r("L1", T0 + i * 30 * 60_000, { "battery.soc": 80 - i * 10, "load.on": i % 2 }));
      await store.write(batch, seq);
      const hourly = await store.aggregate({
        deviceId: "L1",
        measurement: "streetlight_telemetry",
        from: T0,
        to: T0 + 2 * 3600_000,
        every: "hour",
        fields: ["battery.soc"],
      });
      expect(hourly).toEqual([
        { ts: T0, field: "battery.soc", min: 70, avg: 75, max: 80, last: 70, count: 2 },
        { ts: T0 + 3600_000, field: "battery.soc", min: 50, avg: 55, max: 60, last: 50, count: 2 },
      ]);
      const daily = await store.aggregate({
        deviceId: "L1",
        measurement: "streetlight_telemetry",
        from: T0 - 10 * 3600_000,
        to: T0 + 86_400_000,
        every: "day",
      });
      // a day is a China day: T0 is 12:00 China time, its day began at 00:00 China time (16:00 UTC the day before)
      expect(daily.find((a) => a.field === "load.on")).toMatchObject({ ts: T0 - 12 * 3600_000, min: 0, max: 1, avg: 0.5, count: 4 });
    });

    it("counts a reading that arrives days late in the hour and the day it belongs to (within the raw retention)", async () => {
      const day = T0 - 10 * 86_400_000; // 12:00 China time, ten days ago
      await store.write([r("L1", day, { "battery.soc": 50 }), r("L1", day + 20 * 60_000, { "battery.soc": 70 })], seq);
      const q = (every: "hour" | "day") =>
        store.aggregate({ deviceId: "L1", measurement: "streetlight_telemetry", from: day - 12 * 3600_000, to: day + 12 * 3600_000, every });
      expect(await q("hour")).toEqual([{ ts: day, field: "battery.soc", min: 50, avg: 60, max: 70, last: 70, count: 2 }]);
      // buffered by the light and sent with a live reading
      await store.write([r("L1", T0, { "battery.soc": 99 }), r("L1", day + 10 * 60_000, { "battery.soc": 30 })], seq);
      expect(await q("hour")).toEqual([{ ts: day, field: "battery.soc", min: 30, avg: 50, max: 70, last: 70, count: 3 }]);
      expect(await q("day")).toEqual([{ ts: day - 12 * 3600_000, field: "battery.soc", min: 30, avg: 50, max: 70, last: 70, count: 3 }]);
    });

    it("aggregates exactly the payload's numeric fields (numericFields): nested, booleans as 0/1, not arrays or the ts", async () => {
      const payload = {
        ts: T0,
        pv: { v: 0.4, a: 0, w: 0 },
        load: { on: true, w: 29.6, dimPct: 100 },
        battery: { v: 12.9, soc: 78, tempC: -4.5 },
        faults: ["load_open"],
        hopperKg: { urea: 1200, kcl: 0 },
        samples: [{ w: 3 }, 4],
        fw: "1.2.0",
        spare: null,
      };
      await store.write([{ seq: 1, measurement: "blender_telemetry", deviceId: "M1", ts: T0, receivedAt: T0, tags: {}, payload }], 1);
      const agg = await store.aggregate({ deviceId: "M1", measurement: "blender_telemetry", from: T0, to: T0 + 60_000, every: "minute" });
      const want = numericFields(payload);
      expect(Object.fromEntries(agg.map((a) => [a.field, a.last]))).toEqual(want);
      expect(Object.keys(want).sort()).toEqual(
        [
          "battery.soc",
          "battery.tempC",
          "battery.v",
          "hopperKg.kcl",
          "hopperKg.urea",
          "load.dimPct",
          "load.on",
          "load.w",
          "pv.a",
          "pv.v",
          "pv.w",
        ].sort(),
      );
      expect(want["load.on"]).toBe(1);
    });

    it("aggregates many devices at once, by device, as it aggregates each", async () => {
      const batch = ["L1", "L2", "L3"].flatMap((id, d) =>
        [0, 1, 2].map((i) => r(id, T0 + i * 20 * 60_000 + d, { "battery.soc": 50 + d * 10 + i, "load.w": d * i })),
      );
      await store.write(batch, seq);
      const q = { measurement: "streetlight_telemetry", from: T0, to: T0 + 3600_000, every: "hour" as const };
      const many = await store.aggregateMany({ ...q, deviceIds: ["L1", "L3", "L9"], fields: ["battery.soc"] });
      expect([...many.keys()].sort()).toEqual(["L1", "L3"]);
      for (const id of ["L1", "L3"]) expect(many.get(id)).toEqual(await store.aggregate({ ...q, deviceId: id, fields: ["battery.soc"] }));
      expect(many.get("L3")).toEqual([{ ts: T0, field: "battery.soc", min: 70, avg: 71, max: 72, last: 72, count: 3 }]);
      const all = await store.aggregateMany({ ...q, deviceIds: ["L2"] });
      expect(all.get("L2")?.map((a) => [a.field, a.max])).toEqual([
        ["battery.soc", 62],
        ["load.w", 2],
      ]);
      // eachAggregate hands over the same rows, each device's together
      const visited = new Map<string, unknown[]>();
      await store.eachAggregate({ ...q, deviceIds: ["L1", "L3", "L9"], fields: ["battery.soc"] }, (id, ts, field, min, avg, max, last, count) => {
        visited.set(id, [...(visited.get(id) ?? []), { ts, field, min, avg, max, last, count }]);
      });
      expect(visited).toEqual(many);
      // a device asked for twice is answered once
      expect(await store.aggregateMany({ ...q, deviceIds: ["L3", "L3"], fields: ["battery.soc"] })).toEqual(new Map([["L3", many.get("L3")]]));
      // a field asked for twice is answered once; one the device never sent, not at all
      const twice = await store.aggregateMany({ ...q, deviceIds: ["L2"], fields: ["load.w", "load.w", "pv.w"] });
      expect(twice.get("L2")?.map((a) => [a.field, a.max])).toEqual([["load.w", 2]]);
    });

    it("aggregates and reads many devices as it does each; an id is matched exactly, whatever characters it holds", async () => {
      const ids = ["A.1", "AX1", "A1", "B(1)", "C|D", "E+", "F*", "G/H", "I-1", "J_2"];
      const batch = ids.flatMap((id, d) => [0, 600, 1439].map((m) => r(id, T0 + m * 60_000 + d, { "battery.soc": 10 * d + m / 100, "load.w": d })));
      await store.write(batch, seq);
      const q = { measurement: "streetlight_telemetry", from: T0, to: T0 + 86_400_000, every: "minute" as const };
      const many = await store.aggregateMany({ ...q, deviceIds: ["A.1", "B(1)", "C|D", "E+", "F*", "G/H", "I-1", "J_2"] });
      expect([...many.keys()]).toEqual(["A.1", "B(1)", "C|D", "E+", "F*", "G/H", "I-1", "J_2"]);
      for (const [id, rows] of many) {
        expect(rows, id).toEqual(await store.aggregate({ ...q, deviceId: id }));
        expect(rows.length, id).toBe(6); // 3 minutes × 2 fields: not AX1's or A1's
      }
      expect(
        many
          .get("A.1")
          ?.filter((a) => a.field === "battery.soc")
          .map((a) => a.last),
      ).toEqual([0, 6, 14.39]);
      // and read raw, many at once
      const raw = await store.rawMany({ ...q, deviceIds: ["A.1", "C|D", "G/H"] });
      expect([...raw.keys()].sort()).toEqual(["A.1", "C|D", "G/H"]);
      for (const rows of raw.values()) expect(rows).toHaveLength(3);
    });

    it("keeps a payload's text, its field names and the tags exactly, whatever characters they hold", async () => {
      const payload = { ts: T0, note: 'a "quoted", back\\slash \\" = and\nnewline 路灯', "odd key, =x": { w: 3 }, on: true };
      const reading: StoredReading = { ...r("L1", T0, {}), tags: { town: "来苏 镇,=", village: "村 a=b,c" }, payload };
      await store.write([reading], 1);
      expect((await store.raw({ deviceId: "L1", from: T0, to: T0 + 1, limit: 10 }))[0]?.payload).toEqual(payload);
      const agg = await store.aggregate({ deviceId: "L1", measurement: "streetlight_telemetry", from: T0, to: T0 + 60_000, every: "minute" });
      expect(agg.map((a) => [a.field, a.last]).sort()).toEqual([
        ["odd key, =x.w", 3],
        ["on", 1],
      ]);
    });

    it("reads many devices at once, by device", async () => {
      await store.write([r("L1", T0, { "pv.w": 1 }), r("L2", T0 + 1, { "pv.w": 2 }), r("L2", T0 + 2, { "pv.w": 3 }), r("L3", T0, { "pv.w": 4 })], 4);
      const m = await store.rawMany({ deviceIds: ["L1", "L2", "L9"], measurement: "streetlight_telemetry", from: T0, to: T0 + 10 });
      expect([...m.keys()].sort()).toEqual(["L1", "L2"]);
      expect(m.get("L2")?.map((x) => x.ts)).toEqual([T0 + 1, T0 + 2]);
    });

    it("gives the latest reading of a device", async () => {
      await store.write([r("L1", T0 + 5, { "pv.w": 5 }), r("L1", T0 + 9, { "pv.w": 9 }), r("L1", T0 + 7, { "pv.w": 7 })], 3);
      expect((await store.latest("L1", "streetlight_telemetry"))?.ts).toBe(T0 + 9);
      expect(await store.latest("nobody", "streetlight_telemetry")).toBeUndefined();
    });

    it("keeps the checkpoint with the data, also for an empty batch", async () => {
      expect(await store.checkpoint()).toBe(0);
      await store.write([r("L1", T0, { "pv.w": 1 })], 1);
      expect(await store.checkpoint()).toBe(1);
      await store.write([], 7);
      expect(await store.checkpoint()).toBe(7);
      await store.close();
      store = await fx.open();
      expect(await store.checkpoint()).toBe(7);
      expect(await store.count({})).toBe(1);
    });

    it("writes a batch of 20,000 readings", async () => {
      const batch = Array.from({ length: 20_000 }, (_, i) => r(`L${i % 500}`, T0 + Math.floor(i / 500) * 1000, { "pv.w": i }));
      await store.write(batch, seq);
      expect(await store.count({ measurement: "streetlight_telemetry" })).toBe(20_000);
      expect(await store.raw({ deviceId: "L7", from: T0, to: T0 + 3600_000, limit: 1000 })).toHaveLength(40);
    });
  });
}
