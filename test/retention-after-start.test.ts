import { describe, expect, it } from "vitest";
import { topics } from "../devices/index.js";
import { connectDevice, publish, reading, registerLight, startTestApp, waitUntil } from "../harness/helpers.js";
import { tempDirPerTest } from "./dirs.js";

const dir = tempDirPerTest();
const DAY = 86_400_000;

describe("the retention run a minute after each start", () => {
  it("runs after a restart within the same clock hour (a changed raw retention applies at once); the hourly pass still runs once an hour", async () => {
    // The service's clock: a minute into the current hour, going on from there (both starts fall in one clock hour).
    const realStart = Date.now();
    const hourStart = realStart - (realStart % 3_600_000);
    const clock = () => hourStart + 60_000 + (Date.now() - realStart);
    const data = dir();

    const first = await startTestApp({}, data, { clock });
    try {
      const creds = await registerLight(first, "L-RAS-1");
      const client = await connectDevice(first, creds);
      const old = clock() - 20 * DAY;
      for (const [i, soc] of [60, 70, 80].entries())
        await publish(
          client,
          topics.uplink("streetlight", creds.id, "telemetry"),
          JSON.stringify(reading(old + i * 300_000, { battery: { v: 12.9, soc, tempC: 14 } })),
        );
      client.end(true);
      await waitUntil(async () => (await first.app.telemetry.count({ deviceId: "L-RAS-1" })) === 3, "readings stored");
      // this hour's pass, as the scheduler runs it: claimed, and nothing to fold under the default 60 days
      expect(await first.app.tasks()?.retention()).toMatchObject({ rolledUp: 0 });
      expect(await first.app.telemetry.count({ deviceId: "L-RAS-1" })).toBe(3);
    } finally {
      await first.app.stop();
    }

    // restarted in the same hour with a raw retention of 10 days: the 20-day-old readings are folded a minute after the start
    const second = await startTestApp({ AGRILUME_EMBEDDED_RAW_RETENTION: "10d" }, data, { clock });
    try {
      expect(Math.floor(clock() / 3_600_000)).toBe(Math.floor(hourStart / 3_600_000));
      // the hourly pass stays one per hour (across restarts and instances on one state store)
      expect(await second.app.tasks()?.retention()).toBeUndefined();
      expect(await second.app.telemetry.count({ deviceId: "L-RAS-1" })).toBe(3);
      // (the scheduler's own run, a minute after the start)
      await waitUntil(async () => (await second.app.telemetry.count({ deviceId: "L-RAS-1" })) === 0, "the readings folded", 180_000);
      const range = `from=${new Date(hourStart - 21 * DAY).toISOString()}&to=${new Date(hourStart - 19 * DAY).toISOString()}`;
      const daily = (await (await second.api(`/api/v1/devices/L-RAS-1/telemetry?${range}&every=day&fields=battery.soc`)).json()) as {
        buckets: { field: string; count: number }[];
      };
      expect(daily.buckets).toMatchObject([{ field: "battery.soc", count: 3 }]);
      // once per start
      expect(await second.app.tasks()?.retentionAfterStart()).toBeUndefined();
      const claims = await second.app.state.db.all<{ job: string }>("SELECT DISTINCT job FROM job_claims WHERE job LIKE 'retention%' ORDER BY job");
      expect(claims.map((c) => c.job)).toEqual(["retention", "retention after start"]);
    } finally {
      await second.app.stop();
    }
  }, 300_000);
});
