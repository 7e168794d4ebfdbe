import { describe, expect, it } from "vitest";
import type { StreetlightTelemetry } from "../devices/index.js";
import { DEFAULT_PROFILE, nightOf } from "../src/streetlights/expectation.js";
import { computeNight, flagChargeFaults } from "../src/streetlights/nightly.js";
import { initialState, type LightInfo, type LightState, type NeighbourView, RULES, step } from "../src/streetlights/rules.js";

const LIGHT: LightInfo = { lat: 29.3512, lon: 105.9113, lampW: 30, profile: DEFAULT_PROFILE };
const night = nightOf("2025-11-21", LIGHT.lat, LIGHT.lon, DEFAULT_PROFILE);
const MIDNIGHT = Date.parse("2025-11-22T00:00:00+08:00");
const NOON = Date.parse("2025-11-22T12:00:00+08:00");
const calm: NeighbourView = { reporting: 5, charging: 5, lit: 0 };
const MIN = 60_000;

type Over = {
  load?: Partial<StreetlightTelemetry["load"]>;
  battery?: Partial<StreetlightTelemetry["battery"]>;
  pv?: Partial<StreetlightTelemetry["pv"]>;
  faults?: StreetlightTelemetry["faults"];
  gps?: StreetlightTelemetry["gps"];
};
function reading(ts: number, o: Over = {}): StreetlightTelemetry & { ts: number } {
  return {
    ts,
    pv: { v: 0.4, a: 0, w: 0, ...o.pv },
    battery: { v: 12.8, soc: 70, tempC: 12, ...o.battery },
    load: { on: true, w: 30, a: 2.3, dimPct: 100, ...o.load },
    energyToday: { pvWh: 400, loadWh: 100 },
    faults: o.faults ?? [],
    gps: o.gps ?? { lat: LIGHT.lat, lon: LIGHT.lon, accM: 3 },
  };
}
/** Feeds readings every 5 minutes from t0 for `minutes`, returning the state after each. */
function run(t0: number, minutes: number, make: (ts: number) => StreetlightTelemetry & { ts: number }, nb = calm, from?: LightState): LightState[] {
  const out: LightState[] = [];
  let s = from ?? initialState(t0);
  for (let m = 0; m <= minutes; m += 5) {
    s = step(s, make(t0 + m * MIN), LIGHT, nb);
    out.push(s);
  }
  return out;
}
const last = (xs: LightState[]) => xs[xs.length - 1] as LightState;

describe("streetlight conditions (fake time, at the readings' timestamps)", () => {
  it.each<[string, number, Over, NeighbourView, string]>([
    ["lit at midnight", MIDNIGHT, {}, calm, "lit"],
    ["dark: 4 W where 30 W is expected", MIDNIGHT, { load: { w: 4 } }, calm, "dark"],
    ["dim mismatch: 20 W where 30 W ±15 %", MIDNIGHT, { load: { w: 20 } }, calm, "dim_mismatch"],
    [
      "energy limited: off at low-voltage disconnect",
      MIDNIGHT,
      { load: { on: false, w: 0 }, battery: { v: 10.9, soc: 2 }, faults: ["over_discharge"] },
      calm,
      "energy_limited",
    ],
    ["off at noon", NOON, { load: { on: false, w: 0 }, pv: { v: 19, w: 90 } }, calm, "off"],
    ["day burner: 30 W at noon", NOON, { pv: { v: 19, w: 90 } }, calm, "day_burner"],
    ["not a day burner under a dark sky that lights the neighbours", NOON, { pv: { w: 2 } }, { reporting: 5, charging: 0, lit: 4 }, "lit"],
    ["charge fault: no PV at noon while neighbours charge", NOON, { load: { on: false, w: 0 }, pv: { v: 0, w: 0 } }, calm, "charge_fault"],
    [
      "no charge fault on a day that starves the whole village",
      NOON,
      { load: { on: false, w: 0 }, pv: { v: 0, w: 0 } },
      { reporting: 5, charging: 1, lit: 0 },
      "off",
    ],
    ["moved: 80 m from the registered pole", MIDNIGHT, { gps: { lat: LIGHT.lat + 80 / 111_195, lon: LIGHT.lon, accM: 5 } }, calm, "moved"],
    ["not moved: 12 m off with a 5 m fix", MIDNIGHT, { gps: { lat: LIGHT.lat + 12 / 111_195, lon: LIGHT.lon, accM: 5 } }, calm, "lit"],
  ])("%s", (_n, t0, over, nb, expected) => {
    expect(last(run(t0, 30, (ts) => reading(ts, over), nb)).condition).toBe(expected);
  });

  it("an anomaly latches only after it has held for 10 minutes", () => {
    const states = run(MIDNIGHT, 15, (ts) => reading(ts, { load: { w: 2 } }));
    expect(states.map((s) => s.condition)).toEqual(["off", "off", "dark", "dark"]); // a new state starts as "off"
    expect(states[2]?.since).toBe(MIDNIGHT);
    expect(RULES.latchMs).toBe(10 * MIN);
  });

  it("neither lit nor dark is an anomaly within 30 minutes of dusk", () => {
    expect(last(run(night.dusk - 25 * MIN, 45, (ts) => reading(ts, { load: { on: false, w: 0 } }))).condition).toBe("off");
    // past the band (dusk + 30 min) and latched (10 min more): dark
    expect(last(run(night.dusk - 25 * MIN, 70, (ts) => reading(ts, { load: { on: false, w: 0 } }))).condition).toBe("dark");
  });

  it("ignores the 120 s after a switch, and counts more than 3 switch-ons a night as cycling", () => {
    let s = last(run(MIDNIGHT, 20, (ts) => reading(ts)));
    // off and on again every 10 minutes
    for (let k = 0; k < 5; k++) {
      const t = MIDNIGHT + (30 + k * 10) * MIN;
      s = step(s, reading(t, { load: { on: false, w: 0 } }), LIGHT, calm);
      s = step(s, reading(t + 60_000, { load: { on: false, w: 0 } }), LIGHT, calm);
      expect(s.instant).toBe("lit"); // within the grace period the previous condition stands
      s = step(s, reading(t + 5 * MIN), LIGHT, calm);
    }
    s = last(run(MIDNIGHT + 90 * MIN, 15, (ts) => reading(ts), calm, s));
    expect(s.switchOns).toBe(5);
    expect(s.condition).toBe("cycling");
  });

  it("late data does not rewind the live state", () => {
    const s = last(run(MIDNIGHT, 30, (ts) => reading(ts, { load: { w: 2 } })));
    expect(step(s, reading(MIDNIGHT - 3600_000), LIGHT, calm)).toBe(s);
  });
});

describe("nightly record", () => {
  const every5 = (from: number, to: number, make: (ts: number) => StreetlightTelemetry & { ts: number }) => {
    const out = [];
    for (let t = from; t <= to; t += 5 * MIN) out.push(make(t));
    return out;
  };
  const base = { deviceId: "L1", night, lampW: 30, profile: DEFAULT_PROFILE, maxGapMs: 15 * MIN };
  const lightOn = (ts: number) => reading(ts, ts >= night.dusk + 2 * MIN && ts < night.dawn ? {} : { load: { on: false, w: 0 } });

  it("a healthy night: lit minutes, energy, PV of the day before, one switch-on", () => {
    const rs = every5(night.dusk - 3 * 3600_000, night.dawn + 3600_000, (ts) => {
      const r = lightOn(ts);
      r.energyToday.pvWh = ts < night.dusk ? Math.round((ts - (night.dusk - 3 * 3600_000)) / 60_000) : 0;
      return r;
    });
    const rec = computeNight({ ...base, readings: rs });
    expect(rec.classification).toBe("lit");
    expect(rec.expectedMin).toBe(Math.round((night.dawn - night.dusk) / MIN));
    expect(rec.litMin).toBeGreaterThan(rec.expectedMin - 10);
    expect(rec.loadWh).toBeCloseTo((30 * rec.litMin) / 60, -1);
    expect(rec.switchOns).toBe(1);
    expect(rec.pvWhDayBefore).toBeGreaterThan(170);
  });
  it.each<[string, (ts: number) => StreetlightTelemetry & { ts: number }, string]>([
    ["a dead lamp is dark", (ts) => reading(ts, { load: { on: false, w: 0 } }), "dark"],
    [
      "a flat battery is energy limited",
      (ts) =>
        ts < night.dusk + 3 * 3600_000 ? lightOn(ts) : reading(ts, { load: { on: false, w: 0 }, battery: { v: 10.8 }, faults: ["over_discharge"] }),
      "energy_limited",
    ],
    ["half the night is partial", (ts) => (ts < night.dusk + 6 * 3600_000 ? lightOn(ts) : reading(ts, { load: { on: false, w: 0 } })), "partial"],
  ])("%s", (_n, make, cls) => {
    expect(computeNight({ ...base, readings: every5(night.dusk - 3600_000, night.dawn + 3600_000, make) }).classification).toBe(cls);
  });
  it("no data is not darkness: a night with the link lost 23:05–02:35, lit whenever it reported, is lit, with its coverage said", () => {
    const lost = (ts: number) => {
      const china = new Date(ts + 8 * 3600_000);
      const hm = china.getUTCHours() * 60 + china.getUTCMinutes();
      return hm >= 23 * 60 + 5 || hm < 2 * 60 + 35;
    };
    const rs = every5(night.dusk - 3600_000, night.dawn + 3600_000, lightOn).filter((r) => !lost(r.ts));
    const rec = computeNight({ ...base, readings: rs });
    expect(rec.classification).toBe("lit");
    expect(rec.coveredMin).toBeLessThan(rec.expectedMin - 200);
    expect(rec.litMin).toBeLessThan(0.8 * rec.expectedMin);
  });
  it("no data is not darkness: offline", () => {
    expect(computeNight({ ...base, readings: every5(night.dusk, night.dusk + 3600_000, lightOn) }).classification).toBe("offline");
    expect(computeNight({ ...base, readings: [] })).toMatchObject({ classification: "offline", pvWhDayBefore: null, litMin: 0 });
  });
  it("flags a light that did not charge while its village did", () => {
    const recs = ["A", "B", "C", "D"].map((id, i) => ({
      ...computeNight({ ...base, deviceId: id, readings: [] }),
      pvWhDayBefore: i === 3 ? 0 : 400,
    }));
    flagChargeFaults(recs, () => "梳妆台村");
    expect(recs.map((r) => r.flags)).toEqual([[], [], [], ["charge_fault"]]);
    const dull = ["A", "B", "C"].map((id) => ({ ...computeNight({ ...base, deviceId: id, readings: [] }), pvWhDayBefore: 0 }));
    flagChargeFaults(dull, () => "v");
    expect(dull.every((r) => r.flags.length === 0)).toBe(true);
  });
});
