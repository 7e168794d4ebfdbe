import { type Material, NUTRIENTS, type Nutrient, primaryNutrient } from "./materials.js";
import { type BlendingMessage, blendingMessage as msg } from "./messages.js";

/**
 * Kilograms of each material per tonne of a grade N-P2O5-K2O (DOMAIN.md §3, "Solving a tonne of
 * grade N-P-K"). One material supplies each nutrient the grade needs; where a material also brings
 * another nutrient (MAP brings N), the supplier of that nutrient makes up only the rest. Trace
 * carriers are dosed for their element, and filler makes up the tonne. Negative filler means the
 * grade cannot be made from these materials; the answer then names the richest grade of the same
 * ratio that can.
 */
export type Grade = { n: number; p2o5: number; k2o: number };
export type TraceTarget = Partial<Record<string, number>>; // element → % of the product, e.g. { Zn: 0.2 }

export type SolveResult =
  | { ok: true; kgPerTonne: Record<string, number>; grade: Grade }
  | { ok: false; reason: BlendingMessage; richest?: Grade | undefined };

export function parseGrade(text: string): Grade | null {
  const m = /^(\d{1,2}(?:\.\d+)?)-(\d{1,2}(?:\.\d+)?)-(\d{1,2}(?:\.\d+)?)$/.exec(text.trim());
  if (!m) return null;
  return { n: Number(m[1]), p2o5: Number(m[2]), k2o: Number(m[3]) };
}
export const formatGrade = (g: Grade) => `${trim(g.n)}-${trim(g.p2o5)}-${trim(g.k2o)}`;
const trim = (x: number) => String(Math.round(x * 10) / 10);

/** Solves the 3×3 (or smaller) system: kg of each supplier so that every needed nutrient is met. */
function suppliersKg(grade: Grade, suppliers: Map<Nutrient, Material>): Map<string, number> | BlendingMessage {
  const needed = NUTRIENTS.filter((nu) => grade[nu] > 0);
  const mats = needed.map((nu) => suppliers.get(nu));
  const missing = needed.filter((_, i) => !mats[i]);
  if (missing.length > 0) return msg("solve_no_supplier", { nutrients: missing });
  // A x = b, with A[i][j] = fraction of nutrient i in material j, b[i] = kg of nutrient i per tonne.
  const a = needed.map((nu) => mats.map((m) => (m as Material)[nu] / 100));
  const b = needed.map((nu) => grade[nu] * 10);
  const x = gaussSolve(a, b);
  if (!x) return msg("solve_no_combination", {});
  const out = new Map<string, number>();
  mats.forEach((m, i) => {
    if (m) out.set(m.code, x[i] ?? 0);
  });
  // Nutrients the grade does not want must not come in through another material.
  for (const nu of NUTRIENTS) {
    if (grade[nu] > 0) continue;
    const brought = [...out].reduce((s, [code, kg]) => s + (kg * (mats.find((m) => m?.code === code)?.[nu] ?? 0)) / 100, 0);
    if (brought > 1e-6) return msg("solve_unwanted_nutrient", { nutrient: nu, kgPerTonne: Math.round(brought) });
  }
  return out;
}

export function solve(grade: Grade, materials: readonly Material[], trace: TraceTarget = {}): SolveResult {
  const suppliers = new Map<Nutrient, Material>();
  for (const m of materials) {
    const nu = primaryNutrient(m);
    if (!nu) continue;
    const prev = suppliers.get(nu);
    if (prev) return { ok: false, reason: msg("solve_two_suppliers", { nutrient: nu, first: prev.code, second: m.code }) };
    suppliers.set(nu, m);
  }
  const filler = materials.find((m) => m.filler);
  const kg = suppliersKg(grade, suppliers);
  if (!(kg instanceof Map)) return { ok: false, reason: kg };
  const negative = [...kg].filter(([, v]) => v < -1e-9);
  if (negative.length > 0) {
    return { ok: false, reason: msg("solve_negative", { materials: negative.map(([c]) => c) }) };
  }
  for (const [element, pct] of Object.entries(trace)) {
    if (!pct) continue;
    const carrier = materials.find((m) => (m.trace[element as keyof typeof m.trace] ?? 0) > 0);
    if (!carrier) return { ok: false, reason: msg("solve_no_carrier", { element }) };
    kg.set(carrier.code, (kg.get(carrier.code) ?? 0) + (pct * 10) / ((carrier.trace[element as keyof typeof carrier.trace] ?? 1) / 100));
  }
  const used = [...kg.values()].reduce((a, b) => a + b, 0);
  const rest = 1000 - used;
  if (rest < -1e-6 || (rest > 1e-6 && !filler)) {
    return {
      ok: false,
      reason: rest < 0 ? msg("solve_over_tonne", { kgPerTonne: Math.round(used) }) : msg("solve_no_filler", {}),
      richest: richest(grade, suppliers, used),
    };
  }
  if (filler && rest > 1e-6) kg.set(filler.code, rest);
  return { ok: true, kgPerTonne: Object.fromEntries([...kg].map(([c, v]) => [c, Math.round(v * 10) / 10])), grade };
}

/** The richest grade of the same ratio: everything scales linearly with the grade except the trace carriers. */
function richest(grade: Grade, suppliers: Map<Nutrient, Material>, used: number): Grade | undefined {
  const main = suppliersKg(grade, suppliers);
  if (!(main instanceof Map)) return undefined;
  const mainKg = [...main.values()].reduce((a, b) => a + b, 0);
  const traceKg = used - mainKg;
  if (mainKg <= 0) return undefined;
  const f = (1000 - traceKg) / mainKg;
  const down = (x: number) => Math.floor(x * f * 10) / 10;
  return { n: down(grade.n), p2o5: down(grade.p2o5), k2o: down(grade.k2o) };
}

function gaussSolve(a: number[][], b: number[]): number[] | null {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] ?? 0]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]?.[col] ?? 0) > Math.abs(m[pivot]?.[col] ?? 0)) pivot = r;
    const pr = m[pivot];
    if (!pr || Math.abs(pr[col] ?? 0) < 1e-12) return null;
    [m[col], m[pivot]] = [pr, m[col] as number[]];
    const row = m[col] as number[];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const other = m[r] as number[];
      const f = (other[col] ?? 0) / (row[col] ?? 1);
      for (let c = col; c <= n; c++) other[c] = (other[c] ?? 0) - f * (row[c] ?? 0);
    }
  }
  return m.map((row, i) => (row[n] ?? 0) / (row[i] ?? 1));
}
