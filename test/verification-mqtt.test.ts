import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, reading, registerLight, startTestApp, type TestApp } from "../harness/helpers.js";
import { addDays } from "../src/platform/clock.js";
import { DEFAULT_PROFILE, localDate, nightOf } from "../src/streetlights/expectation.js";

/**
 * Issue 20 #1 and #2 as users produce the data: readings over real MQTT to a started service, the nightly job, then the
 * verification report. A light that blinks but is lit over 80 % of each night is verified (cycling is a maintenance
 * finding); a light whose link drops for three and a half hours each night and is lit whenever it reports is verified
 * too (missing data is not darkness), and its nights say their coverage; a light lit half the night is not.
 */
const BASE = { lat: 29.3512, lon: 105.9113 };
const at = (metresNorth: number) => ({ lat: BASE.lat + metresNorth / 111_195, lon: BASE.lon });
const LIGHTS = { BLINK: at(0), GAPPY: at(100), HALF: at(200) } as const;
type Id = keyof typeof LIGHTS;
const STEP = 5 * 60_000;
const NIGHTS = 3;

describe("verification over MQTT and the nightly job (issue 20 #1, #2)", () => {
  let t: TestApp;
  let dates: string[] = [];
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_STREETLIGHT_REPORT_S: "300" });
  });
  afterAll(() => t.stop());

  /** Whether the light is lit at `ts` in night `n` (its pattern), or null when it sends nothing then. */
  const lit = (id: Id, ts: number, n: { dusk: number; dawn: number; date: string }): boolean | null => {
    if (ts < n.dusk || ts >= n.dawn) return false;
    const intoNight = ts - n.dusk;
    const length = n.dawn - n.dusk;
    if (id === "BLINK") {
      // 7 dark spells of 10 minutes spread over the night: lit about 90 % of it, 8 switch-ons
      const spell = Math.floor(intoNight / (length / 8));
      const within = intoNight - spell * (length / 8);
      return !(spell >= 1 && within < 10 * 60_000);
    }
    if (id === "GAPPY") {
      // the link is lost 23:05–02:35 China time; lit whenever it reports
      const gapFrom = Date.parse(`${n.date}T23:05:00+08:00`);
      const gapTo = Date.parse(`${addDays(n.date, 1)}T02:35:00+08:00`);
      return ts >= gapFrom && ts < gapTo ? null : true;
    }
    return intoNight < length / 2; // HALF: lit the first half only
  };

  it("verifies a blinking light lit over 80 % of each night and a light with a gap in its data; not one lit half the night", async () => {
    // the NIGHTS most recent nights that ended at least two hours ago
    let last = localDate(Date.now() - 86_400_000);
    if (nightOf(last, BASE.lat, BASE.lon, DEFAULT_PROFILE).dawn + 2 * 3600_000 > Date.now() - 60_000) last = addDays(last, -1);
    dates = Array.from({ length: NIGHTS }, (_, i) => addDays(last, i - NIGHTS + 1));
    for (const [id, pos] of Object.entries(LIGHTS) as [Id, { lat: number; lon: number }][]) {
      const creds = await registerLight(t, id, pos);
      const client = await connectDevice(t, creds);
      const sends: Promise<void>[] = [];
      for (const date of dates) {
        const n = nightOf(date, pos.lat, pos.lon, DEFAULT_PROFILE);
        // from the afternoon before (charging) to after dawn
        for (let ts = n.dusk - 4 * 3600_000; ts < n.dawn + 3600_000; ts += STEP) {
          const on = lit(id, ts, { ...n, date });
          if (on === null) continue;
          const day = ts < n.dusk || ts >= n.dawn;
          sends.push(
            publish(
              client,
              `streetlight/${id}/telemetry`,
              JSON.stringify(
                reading(ts, {
                  pv: day ? { v: 18.5, a: 5, w: 92 } : { v: 0.4, a: 0, w: 0 },
                  load: on ? { on: true, w: 29.6, a: 2.31, dimPct: 100 } : { on: false, w: 0, a: 0, dimPct: 0 },
                  energyToday: { pvWh: 380, loadWh: 30 },
                  gps: { ...pos, accM: 3 },
                }),
              ),
            ),
          );
        }
      }
      await Promise.all(sends);
      client.end();
    }
    const claims = [
      "项目编号,镇街,村,道路,年度,批准数量,补助标准,设备编号,经度,纬度,控制器序列号,IMEI,安装日期",
      ...(Object.entries(LIGHTS) as [Id, { lat: number; lon: number }][]).map(([id, p], i) =>
        [
          "YC-2025-101",
          "来苏镇",
          "梳妆台村",
          "梳妆台路",
          2025,
          3,
          2700,
          id,
          p.lon,
          p.lat,
          `SN-M${i}`,
          String(860000000000700 + i),
          "2025-06-01",
        ].join(","),
      ),
    ].join("\n");
    expect((await t.api("/api/v1/projects/import", { method: "POST", body: claims, headers: { "content-type": "text/csv" } })).status).toBe(200);

    // the nightly job, as the scheduler runs it
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    expect(await t.app.runNightly()).toBeGreaterThanOrEqual(NIGHTS * 3);

    type Night = { date: string; classification: string; litMin: number; expectedMin: number; coveredMin: number; switchOns: number };
    const nights = async (id: Id) =>
      ((await (await t.api(`/api/v1/streetlights/${id}/nights?from=${dates[0]}&to=${last}`)).json()) as { nights: Night[] }).nights;
    const blink = await nights("BLINK");
    expect(blink.map((n) => n.date)).toEqual(dates);
    for (const n of blink) {
      expect(n.classification).toBe("cycling"); // a maintenance finding…
      expect(n.switchOns).toBeGreaterThanOrEqual(7);
      expect(n.litMin / n.expectedMin).toBeGreaterThan(0.8);
    }
    const gappy = await nights("GAPPY");
    expect(gappy.map((n) => n.date)).toEqual(dates);
    for (const n of gappy) {
      expect(n.classification).toBe("lit"); // …and no data is not darkness
      expect(n.coveredMin).toBeLessThan(n.expectedMin - 3 * 60); // the gap is said as coverage
    }

    const report = (await (await t.api(`/api/v1/verification?until=${addDays(last, 1)}&nights=${NIGHTS}`)).json()) as {
      window: { from: string; to: string };
      lights: { deviceId: string; verdict: string; evidence: { litNights?: number } }[];
    };
    expect(report.window).toMatchObject({ from: dates[0], to: last });
    const verdicts = Object.fromEntries(report.lights.map((l) => [l.deviceId, [l.verdict, l.evidence.litNights]]));
    expect(verdicts).toEqual({ BLINK: ["verified", NIGHTS], GAPPY: ["verified", NIGHTS], HALF: ["not_lit", 0] });
  }, 180_000);
});
