import { describe, expect, it } from "vitest";
import { reading } from "../harness/helpers.js";
import { localizeDetail } from "../src/platform/i18n.js";
import { DEFAULT_PROFILE } from "../src/streetlights/expectation.js";
import { initialState, instantCondition } from "../src/streetlights/rules.js";

const CJK = /[\u4e00-\u9fff]/;

describe("the rules' details in Chinese", () => {
  it("every streetlight condition's detail, as the rules write it, reads in Chinese; English stays as written", () => {
    const light = { lat: 29.35, lon: 105.91, lampW: 30, profile: DEFAULT_PROFILE };
    const night = Date.parse("2026-11-21T22:00:00+08:00");
    const noon = Date.parse("2026-11-21T12:00:00+08:00");
    const none = { reporting: 0, lit: 0, charging: 0 };
    const cases = [
      [night, { load: { on: true, w: 2, a: 0.2, dimPct: 100 } }, none],
      [night, { load: { on: false, w: 0, a: 0, dimPct: 0 } }, none],
      [night, { load: { on: false, w: 0, a: 0, dimPct: 0 }, battery: { v: 10.9, soc: 2, tempC: 20 } }, none],
      [night, { load: { on: true, w: 15, a: 1.2, dimPct: 50 } }, none],
      [night, { gps: { lat: 29.36, lon: 105.91, accM: 3 } }, none],
      [noon, { load: { on: true, w: 30, a: 2.5, dimPct: 100 }, pv: { v: 0, a: 0, w: 0 } }, none],
      [noon, { load: { on: false, w: 0, a: 0, dimPct: 0 }, pv: { v: 0, a: 0, w: 0 } }, { reporting: 4, lit: 0, charging: 4 }],
    ] as const;
    const details = new Set<string>();
    for (const [ts, over, nb] of cases) {
      const r = reading(ts, { pv: { v: 0, a: 0, w: 0 }, gps: { lat: 29.35, lon: 105.91, accM: 3 }, ...over }) as Parameters<
        typeof instantCondition
      >[0];
      const c = instantCondition(r, light, initialState(ts), nb);
      if (c.detail) details.add(c.detail);
    }
    expect(details.size).toBeGreaterThanOrEqual(5);
    for (const d of details) {
      expect(localizeDetail("zh", d), d).toMatch(CJK);
      expect(localizeDetail("en", d)).toBe(d);
    }
  });

  it("presence, village outages and the blending conditions", () => {
    for (const d of [
      "silent: disconnected",
      "silent: never_seen",
      "no reading yet",
      "9/12 lights dark or offline",
      "offline during working hours",
      "batch B-3: kcl -10 kg",
      "running, scale at 500 kg without change for 200 s",
      "map: 300 kg, refill below 577 kg",
      "projected finish 2026-12-01T10:00:00.000Z after the due date 2026-11-30",
      "condition cleared",
      "cleared",
    ])
      expect(localizeDetail("zh", d), d).toMatch(CJK);
    expect(localizeDetail("zh", "something new")).toBe("something new"); // unknown wording is shown as written
  });
});
