import { describe, expect, it } from "vitest";
import { BUILTIN_MATERIALS, blendGrade } from "../src/blending/materials.js";
import { parseGrade, solve } from "../src/blending/solver.js";
import { createMessages } from "../src/messages.js";

const pick = (...codes: string[]) => BUILTIN_MATERIALS.filter((m) => codes.includes(m.code));
const UMK = pick("urea", "map", "kcl", "filler");
const catalog = new Map(BUILTIN_MATERIALS.map((m) => [m.code, m]));
const messages = createMessages();

describe("formula solver (DOMAIN.md §3 worked figures)", () => {
  it.each([
    ["15-15-15", { urea: 257.1, map: 288.5, kcl: 250, filler: 204.4 }],
    ["24-8-13", { urea: 485, map: 153.8, kcl: 216.7, filler: 144.5 }],
  ])("%s from urea, MAP and KCl", (grade, expected) => {
    const r = solve(parseGrade(grade) ?? { n: 0, p2o5: 0, k2o: 0 }, UMK);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    for (const [code, kg] of Object.entries(expected)) expect(r.kgPerTonne[code], code).toBeCloseTo(kg, 0);
    expect(Object.values(r.kgPerTonne).reduce((a, b) => a + b, 0)).toBeCloseTo(1000, 0);
    // the blend really has the grade
    const g = blendGrade(r.kgPerTonne, catalog);
    expect([g.n, g.p2o5, g.k2o].map(Math.round).join("-")).toBe(grade);
  });

  it("says a grade cannot be made and names the richest of that ratio (18.85, DOMAIN.md: about 18.9)", () => {
    const r = solve({ n: 20, p2o5: 20, k2o: 20 }, UMK);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toEqual({ code: "solve_over_tonne", params: { kgPerTonne: 1061 } });
    expect(messages.render("en", r.reason)).toBe("the materials add up to 1061 kg per tonne, more than 1000");
    expect(messages.render("zh", r.reason)).toBe("每吨原料合计 1061 kg，超过 1000 kg");
    expect(r.richest).toEqual({ n: 18.8, p2o5: 18.8, k2o: 18.8 });
    expect(solve({ n: 18.8, p2o5: 18.8, k2o: 18.8 }, UMK).ok).toBe(true);
  });

  it("doses trace elements: 0.2 % Zn ≈ 5.7 kg/t zinc sulphate, 0.1 % B ≈ 8.8 kg/t borax", () => {
    const r = solve({ n: 15, p2o5: 15, k2o: 15 }, [...UMK, ...pick("znso4", "borax")], { Zn: 0.2, B: 0.1 });
    expect(r.ok && r.kgPerTonne.znso4).toBeCloseTo(5.7, 1);
    expect(r.ok && r.kgPerTonne.borax).toBeCloseTo(8.8, 1);
    expect(r.ok && r.kgPerTonne.filler).toBeCloseTo(204.4 - 5.7 - 8.8, 0);
  });

  it("uses DAP, K2SO4 and ammonium sulphate when asked", () => {
    const r = solve({ n: 15, p2o5: 15, k2o: 15 }, pick("urea", "dap", "k2so4", "filler"));
    expect(r.ok && r.kgPerTonne).toMatchObject({ dap: expect.closeTo(326.1, 1), k2so4: 300 });
    const as = solve({ n: 10, p2o5: 0, k2o: 10 }, pick("as", "kcl", "filler"));
    expect(as.ok && as.kgPerTonne.as).toBeCloseTo(476.2, 1);
  });

  it.each<[string, string[], { code: string; params: object }, string, string]>([
    [
      "two N sources",
      ["urea", "as", "map", "kcl", "filler"],
      { code: "solve_two_suppliers", params: { nutrient: "n", first: "urea", second: "as" } },
      "choose one material for N: both urea and as are given",
      "N 只能由一种原料提供：urea 和 as 请选其一",
    ],
    [
      "no K source",
      ["urea", "map", "filler"],
      { code: "solve_no_supplier", params: { nutrients: ["k2o"] } },
      "no material supplies K2O",
      "没有原料提供 K2O",
    ],
    [
      "MAP brings more N than a 3-20-10 wants",
      ["urea", "map", "kcl", "filler"],
      { code: "solve_negative", params: { materials: ["urea"] } },
      "urea would be negative: another material already brings more than the grade allows",
      "urea 的用量会是负数：其他原料带入的养分已超过配比",
    ],
    [
      "N but no P wanted, yet MAP given alone",
      ["map", "kcl", "filler"],
      { code: "solve_no_supplier", params: { nutrients: ["n"] } },
      "no material supplies N",
      "没有原料提供 N",
    ],
  ])("refuses %s with a reason", (_n, codes, reason, en, zh) => {
    const grade = _n.startsWith("MAP")
      ? { n: 3, p2o5: 20, k2o: 10 }
      : _n.startsWith("N but")
        ? { n: 10, p2o5: 0, k2o: 10 }
        : { n: 15, p2o5: 15, k2o: 15 };
    const r = solve(grade, pick(...codes));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toEqual(reason);
    expect(messages.render("en", r.reason)).toBe(en);
    expect(messages.render("zh", r.reason)).toBe(zh);
  });

  it("parses grades", () => {
    expect(parseGrade("15-15-15")).toEqual({ n: 15, p2o5: 15, k2o: 15 });
    expect(parseGrade("24-8-13.5")).toEqual({ n: 24, p2o5: 8, k2o: 13.5 });
    expect(parseGrade("15-15")).toBeNull();
    expect(parseGrade("150-1-1")).toBeNull();
  });
});
