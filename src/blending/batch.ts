import { blendGrade, type Material } from "./materials.js";

/** Per material: relative (main materials) or absolute in kg (trace elements) — DOMAIN.md §3. */
export type Tolerance = { relPct: number } | { absKg: number };

/** Proposal defaults: 1 % relative is twice the belt scale's claimed ±0.5 %; 0.2 kg for trace carriers dosed by the kilogram. */
export const DEFAULT_REL_PCT = 1;
export const DEFAULT_TRACE_ABS_KG = 0.2;

export function defaultTolerance(m: Material | undefined): Tolerance {
  return m && Object.keys(m.trace).length > 0 ? { absKg: DEFAULT_TRACE_ABS_KG } : { relPct: DEFAULT_REL_PCT };
}

export type Evaluation = {
  deviation: Record<string, { targetKg: number; actualKg: number; kg: number; pct: number | null; limitKg: number; ok: boolean }>;
  inTolerance: boolean;
  outOfTolerance: string[];
  actualGrade: { n: number; p2o5: number; k2o: number };
  actualKg: number;
};

/** Compares a batch's actual weights with its targets, and computes the N-P-K it really has. */
export function evaluateBatch(
  targetKg: Record<string, number>,
  actualKg: Record<string, number>,
  tolerances: Record<string, Tolerance>,
  catalog: ReadonlyMap<string, Material>,
): Evaluation {
  const deviation: Evaluation["deviation"] = {};
  const out: string[] = [];
  for (const code of new Set([...Object.keys(targetKg), ...Object.keys(actualKg)])) {
    const target = targetKg[code] ?? 0;
    const actual = actualKg[code] ?? 0;
    const tol = tolerances[code] ?? defaultTolerance(catalog.get(code));
    const limitKg = "absKg" in tol ? tol.absKg : (target * tol.relPct) / 100;
    const kg = Math.round((actual - target) * 100) / 100;
    const ok = Math.abs(actual - target) <= limitKg + 1e-9;
    if (!ok) out.push(code);
    deviation[code] = {
      targetKg: target,
      actualKg: actual,
      kg,
      pct: target > 0 ? Math.round(((actual - target) / target) * 10_000) / 100 : null,
      limitKg: Math.round(limitKg * 100) / 100,
      ok,
    };
  }
  const g = blendGrade(actualKg, catalog);
  return { deviation, inTolerance: out.length === 0, outOfTolerance: out, actualGrade: { n: g.n, p2o5: g.p2o5, k2o: g.k2o }, actualKg: g.totalKg };
}
