import { describe, expect, it } from "vitest";
import { evaluateBatch } from "../src/blending/batch.js";
import { BUILTIN_MATERIALS } from "../src/blending/materials.js";
import { computeProgress } from "../src/blending/progress.js";
import { addWorkingTime, DEFAULT_HOURS, isWorking, subtractWorkingTime, workingMsBetween, workingMsPerDay } from "../src/blending/schedule.js";
import { recommend, soilSupplyFromTest } from "../src/blending/soil.js";

const catalog = new Map(BUILTIN_MATERIALS.map((m) => [m.code, m]));
/** China time → epoch ms */
const cst = (s: string) => Date.parse(`${s}+08:00`);
const H = 3600_000;

describe("working hours (China time)", () => {
  it("the default shift is 7.5 h: 08:00–12:00 and 13:30–17:00", () => {
    expect(workingMsPerDay(DEFAULT_HOURS)).toBe(7.5 * H);
    expect(isWorking(cst("2025-11-21T08:00:00"), DEFAULT_HOURS)).toBe(true);
    expect(isWorking(cst("2025-11-21T12:30:00"), DEFAULT_HOURS)).toBe(false);
    expect(isWorking(cst("2025-11-21T17:00:00"), DEFAULT_HOURS)).toBe(false);
  });
  it("adds working time across the lunch break, the night and days off", () => {
    expect(addWorkingTime(cst("2025-11-21T11:00:00"), 2 * H, DEFAULT_HOURS)).toBe(cst("2025-11-21T14:30:00"));
    expect(addWorkingTime(cst("2025-11-21T16:00:00"), 2 * H, DEFAULT_HOURS)).toBe(cst("2025-11-22T09:00:00"));
    expect(addWorkingTime(cst("2025-11-21T20:00:00"), 0.5 * H, DEFAULT_HOURS)).toBe(cst("2025-11-22T08:30:00"));
    const weekdays = { periods: [["08:00", "17:30"]] as [string, string][], days: [1, 2, 3, 4, 5] };
    // 2025-11-21 is a Friday: 2 h from 17:00 Friday ends Monday 09:30
    expect(addWorkingTime(cst("2025-11-21T17:00:00"), 2 * H, weekdays)).toBe(cst("2025-11-24T09:30:00"));
  });
  it("measures and walks back working time", () => {
    expect(workingMsBetween(cst("2025-11-21T07:00:00"), cst("2025-11-22T09:00:00"), DEFAULT_HOURS)).toBe(8.5 * H);
    expect(subtractWorkingTime(cst("2025-11-21T14:00:00"), H, DEFAULT_HOURS)).toBe(cst("2025-11-21T11:30:00"));
    expect(subtractWorkingTime(cst("2025-11-22T07:00:00"), H, DEFAULT_HOURS)).toBe(cst("2025-11-21T16:00:00"));
  });
});

describe("order progress and time to finish (DOMAIN.md: 300 t, 120 t made, ~90 t/day)", () => {
  // 120 one-tonne batches; the last working hour at a 5-minute cycle: 12 t/h
  const now = cst("2025-11-21T10:00:00");
  const batches = Array.from({ length: 120 }, (_, i) => ({ endedAt: now - (119 - i) * 5 * 60_000, actualT: 1, bags: 20 }));
  it("120 of 300 t is 40 %, 12 t/h, 90 t/day, finishing about two working days out", () => {
    const p = computeProgress({ targetT: 300, dueDate: "2025-11-24", batches, now, hours: DEFAULT_HOURS });
    expect(p).toMatchObject({ producedT: 120, progressPct: 40, bags: 2400, rateTPerHour: 12, rateTPerDay: 90, rateWindowH: 1, onSchedule: true });
    // 180 t at 12 t/h = 15 working hours = 2 shifts: from 10:00 Friday → 10:00 Sunday
    expect(p.eta).toBe(new Date(cst("2025-11-23T10:00:00")).toISOString());
  });
  it("is behind schedule when the finish falls after the due date", () => {
    expect(computeProgress({ targetT: 300, dueDate: "2025-11-22", batches, now, hours: DEFAULT_HOURS }).onSchedule).toBe(false);
  });
  it("widens the window to a working day when the last hour holds too few batches, and has no ETA with no rate", () => {
    const sparse = [{ endedAt: now - 3 * H, actualT: 1, bags: 20 }];
    const p = computeProgress({ targetT: 10, dueDate: "2025-11-30", batches: sparse, now, hours: DEFAULT_HOURS });
    expect(p.rateWindowH).toBe(7.5);
    expect(p.rateTPerHour).toBeCloseTo(1 / 7.5, 2);
    expect(computeProgress({ targetT: 10, dueDate: "2025-11-30", batches: [], now, hours: DEFAULT_HOURS })).toMatchObject({
      eta: null,
      onSchedule: null,
      rateTPerHour: 0,
    });
  });
  it("a finished order reports its last batch as the finish", () => {
    const p = computeProgress({ targetT: 120, dueDate: "2025-11-30", batches, now, hours: DEFAULT_HOURS });
    expect(p).toMatchObject({ progressPct: 100, onSchedule: true, eta: new Date(now).toISOString() });
  });
});

describe("batch evaluation", () => {
  const target = { urea: 257.1, map: 288.5, kcl: 250, filler: 190, znso4: 5.7 };
  it("within tolerance: relative for main materials, absolute for trace; actual N-P-K from actual weights", () => {
    const e = evaluateBatch(target, { urea: 258, map: 287.2, kcl: 251.5, filler: 191, znso4: 5.8 }, {}, catalog);
    expect(e.inTolerance).toBe(true);
    // 993.5 kg in all: N (258 × 0.46 + 287.2 × 0.11) / 993.5 = 15.13 %; P2O5 287.2 × 0.52 / 993.5 = 15.03 %; K2O 251.5 × 0.6 / 993.5 = 15.19 %
    expect(e.actualGrade).toEqual({ n: 15.13, p2o5: 15.03, k2o: 15.19 });
    expect(e.deviation.kcl).toMatchObject({ kg: 1.5, pct: 0.6, limitKg: 2.5, ok: true });
    expect(e.deviation.znso4?.limitKg).toBe(0.2);
  });
  it("flags each material out of tolerance", () => {
    const e = evaluateBatch(target, { urea: 257, map: 288, kcl: 240, filler: 190, znso4: 6.2 }, { urea: { relPct: 0.5 } }, catalog);
    expect(e.inTolerance).toBe(false);
    expect(e.outOfTolerance.sort()).toEqual(["kcl", "znso4"]);
    expect(e.deviation.kcl?.pct).toBe(-4);
  });
});

describe("soil test to grade (nutrient balance, DOMAIN.md §3)", () => {
  const richest = () => 56.5; // urea + MAP + KCl reach ~18.8 per nutrient for 1:1:1
  it("computes nutrients per mu and a whole-number grade with its rate", () => {
    const r = recommend({ crop: "rice", targetYieldKgPerMu: 500, soilSupplyKgPerMu: { n: 5, p2o5: 2, k2o: 6 }, richestTotal: richest });
    if ("error" in r) throw new Error(r.error.code);
    // N (500/100 × 2.25 − 5)/0.325 = 19.2; P2O5 (5.5 − 2)/0.175 = 20; K2O (13.5 − 6)/0.45 = 16.7
    expect(r.nutrientsKgPerMu).toEqual({ n: 19.2, p2o5: 20, k2o: 16.7 });
    expect(r.grade).toEqual({ n: 15, p2o5: 16, k2o: 13 });
    expect(r.rateKgPerMu).toBeCloseTo((55.9 / 44) * 100, 1);
  });
  it("converts soil test values and recommends nothing when the soil suffices", () => {
    expect(soilSupplyFromTest({ alkaliN: 100, olsenP: 20, availableK: 100 })).toEqual({ n: 9, p2o5: expect.closeTo(3.435, 3), k2o: 9 });
    const none = recommend({ crop: "wheat", targetYieldKgPerMu: 100, soilSupplyKgPerMu: { n: 10, p2o5: 10, k2o: 10 }, richestTotal: richest });
    expect(none).toEqual({ error: { code: "soil_sufficient", params: {} } });
  });
  it("says why when the ratio cannot be blended at all, instead of a 0-0-0 grade and a tonne of filler (issue 20 #6)", () => {
    // N-rich paddy: the soil supplies all the N; P and K are wanted, and every phosphate here carries N
    const r = recommend({
      crop: "rice",
      targetYieldKgPerMu: 400,
      soilSupplyKgPerMu: soilSupplyFromTest({ alkaliN: 120, olsenP: 15, availableK: 90 }),
      richestTotal: () => 0,
    });
    expect(r).toMatchObject({ error: { code: "ratio_not_blendable", params: { n: 0 } } });
  });
  it("lowers the concentration when the ratio cannot reach 45 %", () => {
    const r = recommend({ crop: "maize", targetYieldKgPerMu: 600, soilSupplyKgPerMu: { n: 0, p2o5: 0, k2o: 0 }, richestTotal: () => 40.4 });
    if ("error" in r) throw new Error(r.error.code);
    expect(r.grade.n + r.grade.p2o5 + r.grade.k2o).toBeLessThanOrEqual(40);
  });
});
