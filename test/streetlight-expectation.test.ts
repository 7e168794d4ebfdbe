import SunCalc from "suncalc";
import { describe, expect, it } from "vitest";
import { DEFAULT_PROFILE, distanceM, expectationAt, fullDaylight, levelAt, nightAround, nightOf } from "../src/streetlights/expectation.js";
import { sunsetSunrise } from "../src/streetlights/sun.js";

// Chongqing (DOMAIN.md §2): 21 Dec sunset 18:00, sunrise 07:45, 13.8 h of night; 21 Jun 19:58 / 05:55, 10.0 h
const CQ = { lat: 29.56, lon: 106.55 };
const cst = (s: string) => Date.parse(`${s}+08:00`);
const hm = (t: number) => new Date(t + 8 * 3600_000).toISOString().slice(11, 16);
const minutesApart = (a: string, b: string) => {
  const m = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
  return Math.abs(m(a) - m(b));
};

describe("night windows across the year (DOMAIN.md §2)", () => {
  it.each([
    ["2025-12-21", "18:00", "07:45", 13.8],
    ["2025-06-21", "19:58", "05:55", 10.0],
  ])("%s: sunset %s, sunrise %s, %s h of night", (date, dusk, dawn, hours) => {
    const n = nightOf(date, CQ.lat, CQ.lon, DEFAULT_PROFILE);
    expect(minutesApart(hm(n.dusk), dusk)).toBeLessThanOrEqual(6);
    expect(minutesApart(hm(n.dawn), dawn)).toBeLessThanOrEqual(6);
    expect((n.dawn - n.dusk) / 3600_000).toBeCloseTo(hours, 0);
  });
  it("each degree of longitude shifts the times by about 4 minutes", () => {
    const a = nightOf("2025-11-21", 29.35, 105.93, DEFAULT_PROFILE);
    const b = nightOf("2025-11-21", 29.35, 106.93, DEFAULT_PROFILE);
    expect((a.dusk - b.dusk) / 60_000).toBeCloseTo(4, 0);
  });
  it("nights lengthen from June to December", () => {
    const len = (d: string) => {
      const n = nightOf(d, CQ.lat, CQ.lon, DEFAULT_PROFILE);
      return n.dawn - n.dusk;
    };
    expect(len("2025-09-22")).toBeGreaterThan(len("2025-06-21"));
    expect(len("2025-12-21")).toBeGreaterThan(len("2025-09-22"));
  });
});

describe("expected state with the ±30 minute band", () => {
  const n = nightOf("2025-12-21", CQ.lat, CQ.lon, DEFAULT_PROFILE);
  it.each([
    ["midday", cst("2025-12-21T12:00:00"), "off"],
    ["40 min before dusk", n.dusk - 40 * 60_000, "off"],
    ["20 min before dusk", n.dusk - 20 * 60_000, "band"],
    ["20 min after dusk", n.dusk + 20 * 60_000, "band"],
    ["midnight", cst("2025-12-22T00:00:00"), "on"],
    ["20 min before dawn", n.dawn - 20 * 60_000, "band"],
    ["40 min after dawn", n.dawn + 40 * 60_000, "off"],
  ])("%s is %s", (_name, t, state) => {
    expect(expectationAt(t, CQ.lat, CQ.lon, DEFAULT_PROFILE).state).toBe(state);
  });
  it("dimming stages: 100 % for 4 h, 50 %, 100 % the last hour; and dusk plus N hours", () => {
    const p = {
      mode: "dusk_to_dawn" as const,
      stages: [
        { afterDuskH: 0, pct: 100 },
        { afterDuskH: 4, pct: 50 },
        { beforeDawnH: 1, pct: 100 },
      ],
    };
    expect(levelAt(n.start + 3 * 3600_000, n, p)).toBe(100);
    expect(levelAt(n.start + 5 * 3600_000, n, p)).toBe(50);
    expect(levelAt(n.end - 30 * 60_000, n, p)).toBe(100);
    const plus = { mode: "dusk_plus" as const, hours: 5, stages: [{ afterDuskH: 0, pct: 100 }] };
    expect(expectationAt(n.dusk + 6 * 3600_000, CQ.lat, CQ.lon, plus).state).toBe("off");
    expect(expectationAt(n.dusk + 4 * 3600_000, CQ.lat, CQ.lon, plus).state).toBe("on");
  });
  it("measures distance: 52 m between poles", () => {
    expect(distanceM({ lat: 29.3512, lon: 105.9113 }, { lat: 29.3512 + 52 / 111_195, lon: 105.9113 })).toBeCloseTo(52, 0);
  });
});

describe("the per-place night cache (what every reading asks)", () => {
  // China's corners: Kashgar (sunrise near 09:50 Beijing time in winter), Mohe and Fuyuan (sunset near 15:40), Sanya.
  const PLACES = [{ lat: 39.47, lon: 75.99 }, { lat: 52.97, lon: 122.54 }, { lat: 48.36, lon: 134.29 }, { lat: 18.25, lon: 109.51 }, CQ];
  const dimmed = { mode: "dusk_plus" as const, hours: 5, stages: [{ afterDuskH: 0, pct: 100 }] };
  it("gives the same night as the date's own computation at every hour of a year, with profiles alternating", () => {
    for (const p of PLACES) {
      for (let t = cst("2025-01-01T00:20:00"); t < cst("2026-01-01T00:00:00"); t += 7 * 3600_000 + 13 * 60_000) {
        const local = new Date(t + 8 * 3600_000);
        const date = new Date(t + 8 * 3600_000 - (local.getUTCHours() < 12 ? 86_400_000 : 0)).toISOString().slice(0, 10);
        for (const profile of [DEFAULT_PROFILE, dimmed]) expect(nightAround(t, p.lat, p.lon, profile)).toEqual(nightOf(date, p.lat, p.lon, profile));
      }
    }
  });
  it("tells full daylight as suncalc's own sunrise and sunset for that day do", () => {
    let checked = 0;
    for (const p of PLACES) {
      for (let t = cst("2025-01-01T00:20:00"); t < cst("2026-01-01T00:00:00"); t += 3 * 3600_000 + 7 * 60_000) {
        const times = SunCalc.getTimes(new Date(t), p.lat, p.lon);
        const want = t > times.sunrise.getTime() + 3600_000 && t < times.sunset.getTime() - 3600_000;
        // suncalc picks the day by the instant's Julian day, which can differ from China's date by a few minutes of sun
        const nearEdge = Math.min(Math.abs(t - times.sunrise.getTime() - 3600_000), Math.abs(t - times.sunset.getTime() + 3600_000)) < 5 * 60_000;
        if (!nearEdge) {
          expect(fullDaylight(t, p.lat, p.lon), `${p.lat},${p.lon} at ${new Date(t).toISOString()}`).toBe(want);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });
});

describe("sunset and sunrise without suncalc's other times (sun.ts)", () => {
  it("equals suncalc's sunset and sunrise to the millisecond, across China and the year", () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 20_000; i++) {
      const lat = 18 + rand() * 35; // Hainan to Heilongjiang
      const lon = 74 + rand() * 60;
      const t = Date.UTC(2020, 0, 1) + Math.floor(rand() * 10 * 365 * 86_400_000);
      const times = SunCalc.getTimes(new Date(t), lat, lon);
      expect(sunsetSunrise(t, lat, lon)).toEqual({ sunset: times.sunset.getTime(), sunrise: times.sunrise.getTime() });
    }
  });
});
