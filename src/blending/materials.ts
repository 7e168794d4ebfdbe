import { z } from "zod";
import { MaterialCodeSchema } from "../../devices/index.js";

/**
 * Raw materials with their nutrient content, % by mass. N-P2O5-K2O from DOMAIN.md §3; trace-element
 * contents derived from DOMAIN.md's figures (0.2 % Zn ≈ 5.7 kg/t ZnSO4·H2O → 35.1 % Zn;
 * 0.1 % B ≈ 8.8 kg/t borax → 11.4 % B).
 */
export const MaterialSchema = z.object({
  code: MaterialCodeSchema,
  nameZh: z.string().min(1).max(64),
  nameEn: z.string().min(1).max(64),
  n: z.number().min(0).max(100),
  p2o5: z.number().min(0).max(100),
  k2o: z.number().min(0).max(100),
  /** Trace elements by symbol, % by mass (e.g. { Zn: 35.1 }). */
  trace: z.partialRecord(z.enum(["Zn", "B", "Mn", "Fe", "Cu", "Mo"]), z.number().positive().max(100)).default({}),
  /** Filler carries no nutrient and makes up the tonne. */
  filler: z.boolean().default(false),
});
export type Material = z.infer<typeof MaterialSchema>;

export const BUILTIN_MATERIALS: readonly Material[] = [
  { code: "urea", nameZh: "尿素", nameEn: "Urea", n: 46, p2o5: 0, k2o: 0, trace: {}, filler: false },
  { code: "map", nameZh: "磷酸一铵", nameEn: "Monoammonium phosphate", n: 11, p2o5: 52, k2o: 0, trace: {}, filler: false },
  { code: "dap", nameZh: "磷酸二铵", nameEn: "Diammonium phosphate", n: 18, p2o5: 46, k2o: 0, trace: {}, filler: false },
  { code: "kcl", nameZh: "氯化钾", nameEn: "Potassium chloride", n: 0, p2o5: 0, k2o: 60, trace: {}, filler: false },
  { code: "k2so4", nameZh: "硫酸钾", nameEn: "Potassium sulphate", n: 0, p2o5: 0, k2o: 50, trace: {}, filler: false },
  { code: "as", nameZh: "硫酸铵", nameEn: "Ammonium sulphate", n: 21, p2o5: 0, k2o: 0, trace: {}, filler: false },
  { code: "filler", nameZh: "填充料", nameEn: "Filler", n: 0, p2o5: 0, k2o: 0, trace: {}, filler: true },
  { code: "znso4", nameZh: "一水硫酸锌", nameEn: "Zinc sulphate monohydrate", n: 0, p2o5: 0, k2o: 0, trace: { Zn: 35.1 }, filler: false },
  { code: "borax", nameZh: "硼砂", nameEn: "Borax", n: 0, p2o5: 0, k2o: 0, trace: { B: 11.4 }, filler: false },
];

export type Nutrient = "n" | "p2o5" | "k2o";
export const NUTRIENTS: readonly Nutrient[] = ["n", "p2o5", "k2o"];

/** The nutrient a material mainly supplies, or null for filler and trace carriers. */
export function primaryNutrient(m: Material): Nutrient | null {
  if (m.filler) return null;
  const best = NUTRIENTS.reduce((a, b) => (m[b] > m[a] ? b : a));
  return m[best] > 0 ? best : null;
}

/** N-P2O5-K2O % of a blend from kg of each material (the batch's actual grade). */
export function blendGrade(
  kg: Record<string, number>,
  catalog: ReadonlyMap<string, Material>,
): { n: number; p2o5: number; k2o: number; totalKg: number } {
  let total = 0;
  const sum = { n: 0, p2o5: 0, k2o: 0 };
  for (const [code, w] of Object.entries(kg)) {
    total += w;
    const m = catalog.get(code);
    if (!m) continue;
    for (const nu of NUTRIENTS) sum[nu] += (w * m[nu]) / 100;
  }
  const pct = (x: number) => (total > 0 ? Math.round((x / total) * 10_000) / 100 : 0);
  return { n: pct(sum.n), p2o5: pct(sum.p2o5), k2o: pct(sum.k2o), totalKg: Math.round(total * 10) / 10 };
}
