import { type BlendingMessage, blendingMessage } from "./messages.js";
import type { Grade } from "./solver.js";

/**
 * From a soil test to a grade, by the nutrient balance method (DOMAIN.md §3):
 *   nutrient to apply (kg/mu) = (target yield / 100 × uptake per 100 kg − soil supply) / use efficiency
 */
export const CROPS = ["rice", "maize", "wheat"] as const;
export type Crop = (typeof CROPS)[number];

/** kg of N / P2O5 / K2O taken up per 100 kg of grain (DOMAIN.md §3). */
export const UPTAKE: Record<Crop, Grade> = {
  rice: { n: 2.25, p2o5: 1.1, k2o: 2.7 },
  maize: { n: 2.57, p2o5: 0.86, k2o: 2.14 },
  wheat: { n: 3.0, p2o5: 1.25, k2o: 2.5 },
};

/** Use efficiency: the middle of DOMAIN.md §3's ranges (N 30–35 %, P2O5 10–25 %, K2O 40–50 %). */
export const DEFAULT_EFFICIENCY: Grade = { n: 0.325, p2o5: 0.175, k2o: 0.45 };

/**
 * Soil supply from soil test values, kg per mu: a plough layer of one mu holds about 150 t of soil,
 * so 1 mg/kg = 0.15 kg/mu; P and K are converted to their oxides (P × 2.29, K × 1.2). The share of
 * it crops can take up is a local calibration (proposal defaults below: set them per district from
 * its field trials).
 */
export const SOIL_AVAILABILITY: Grade = { n: 0.6, p2o5: 0.5, k2o: 0.5 };
export type SoilTest = { alkaliN: number; olsenP: number; availableK: number }; // mg/kg

export function soilSupplyFromTest(t: SoilTest, availability: Grade = SOIL_AVAILABILITY): Grade {
  return {
    n: t.alkaliN * 0.15 * availability.n,
    p2o5: t.olsenP * 2.29 * 0.15 * availability.p2o5,
    k2o: t.availableK * 1.2 * 0.15 * availability.k2o,
  };
}

export type Recommendation = {
  nutrientsKgPerMu: Grade;
  grade: Grade;
  rateKgPerMu: number;
};

/** Typical total nutrient content of a compound fertilizer (3 × 15); lowered when the ratio cannot reach it. */
export const TARGET_CONCENTRATION = 45;

export function recommend(input: {
  crop: Crop;
  targetYieldKgPerMu: number;
  soilSupplyKgPerMu: Grade;
  efficiency?: Grade | undefined;
  /** The richest total % the station can blend for a ratio (from the solver). */
  richestTotal: (ratio: Grade) => number;
}): Recommendation | { error: BlendingMessage } {
  const eff = input.efficiency ?? DEFAULT_EFFICIENCY;
  const up = UPTAKE[input.crop];
  const need = (k: keyof Grade) => Math.max(0, ((input.targetYieldKgPerMu / 100) * up[k] - input.soilSupplyKgPerMu[k]) / eff[k]);
  const nutrients = { n: round1(need("n")), p2o5: round1(need("p2o5")), k2o: round1(need("k2o")) };
  const total = nutrients.n + nutrients.p2o5 + nutrients.k2o;
  if (total <= 0) return { error: blendingMessage("soil_sufficient", {}) };
  const concentration = Math.min(TARGET_CONCENTRATION, Math.floor(input.richestTotal(nutrients)));
  // Not a grade of 0-0-0 and a tonne of filler: say why it cannot be blended (N-rich paddy: no N wanted, but the
  // phosphate sources carry N).
  if (concentration < 1) return { error: blendingMessage("ratio_not_blendable", nutrients) };
  // Whole-number grade points, as grades are sold; the rate then delivers the nutrients.
  const grade = {
    n: Math.round((nutrients.n / total) * concentration),
    p2o5: Math.round((nutrients.p2o5 / total) * concentration),
    k2o: Math.round((nutrients.k2o / total) * concentration),
  };
  const points = grade.n + grade.p2o5 + grade.k2o;
  return { nutrientsKgPerMu: nutrients, grade, rateKgPerMu: round1((total / points) * 100) };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
