import type { z } from "zod";

/**
 * A second, faster reader of the contract for the common case, compiled once from a zod schema's definition.
 *
 * `exact(value)` is true only when the parsed JSON `value` is valid and is already exactly what zod would return
 * for it: no unknown key to strip, no default to fill in, no value to transform. The caller may then use `value`
 * as it is and skip zod, which costs more than the rest of a reading's validation (it builds a result object for
 * every field: docs/BENCHMARKS.md). Anything else, false, means "ask zod": zod stays the contract, decides every
 * message this does not vouch for, and writes the errors. So this may say false too often, never true wrongly;
 * test/contract.test.ts checks it against zod on valid payloads, every field at and past its limits, and mutations.
 *
 * Schemas with parts it does not model (records, unions, refinements, transforms other than those in `known`)
 * compile to null: zod reads all of those messages.
 */
export type Exact = (value: unknown) => boolean;

type Def = {
  type: string;
  checks?: { _zod: { def: Record<string, unknown> } }[];
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
  innerType?: z.ZodType;
  element?: z.ZodType;
  entries?: Record<string, unknown>;
  values?: unknown[];
};
/** Every test passes (a plain loop: `tests.every((t) => t(x))` made a closure per field per message). */
function all<T>(tests: ((v: T) => boolean)[], v: T): boolean {
  for (let i = 0; i < tests.length; i++) if (!(tests[i] as (v: T) => boolean)(v)) return false;
  return true;
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

export function compileExact(schema: z.ZodType, known: ReadonlyMap<z.ZodType, Exact> = new Map()): Exact | null {
  const c = (s: z.ZodType): Exact | null => {
    const k = known.get(s);
    if (k) return k;
    const d = defOf(s);
    const checks = (d.checks ?? []).map((x) => x._zod.def);
    switch (d.type) {
      case "number": {
        const tests: ((n: number) => boolean)[] = [];
        for (const ch of checks) {
          const v = ch.value as number;
          if (ch.check === "greater_than") tests.push(ch.inclusive ? (n) => n >= v : (n) => n > v);
          else if (ch.check === "less_than") tests.push(ch.inclusive ? (n) => n <= v : (n) => n < v);
          else if (ch.check === "number_format" && ch.format === "safeint") tests.push(Number.isSafeInteger);
          else return null;
        }
        return (x) => typeof x === "number" && Number.isFinite(x) && all(tests, x);
      }
      case "boolean":
        return checks.length === 0 ? (x) => typeof x === "boolean" : null;
      case "string": {
        const tests: ((s: string) => boolean)[] = [];
        for (const ch of checks) {
          if (ch.check === "min_length") tests.push((s) => s.length >= (ch.minimum as number));
          else if (ch.check === "max_length") tests.push((s) => s.length <= (ch.maximum as number));
          else if (ch.check === "string_format" && ch.format === "regex") {
            const re = ch.pattern as RegExp;
            tests.push((s) => {
              re.lastIndex = 0;
              return re.test(s);
            });
          } else return null;
        }
        return (x) => typeof x === "string" && all(tests, x);
      }
      case "enum": {
        if (checks.length > 0) return null;
        const values = new Set(Object.values(d.entries ?? {}));
        return (x) => (typeof x === "string" || typeof x === "number") && values.has(x);
      }
      case "literal": {
        if (checks.length > 0) return null;
        const values = d.values ?? [];
        return (x) => values.includes(x);
      }
      case "optional": {
        const inner = d.innerType && c(d.innerType);
        return inner && checks.length === 0 ? (x) => x === undefined || inner(x) : null;
      }
      case "nullable": {
        const inner = d.innerType && c(d.innerType);
        return inner && checks.length === 0 ? (x) => x === null || inner(x) : null;
      }
      case "array": {
        const el = d.element && c(d.element);
        if (!el) return null;
        let min = 0;
        let max = Number.POSITIVE_INFINITY;
        for (const ch of checks) {
          if (ch.check === "min_length") min = ch.minimum as number;
          else if (ch.check === "max_length") max = ch.maximum as number;
          else return null;
        }
        return (x) => {
          if (!Array.isArray(x) || x.length < min || x.length > max) return false;
          for (let i = 0; i < x.length; i++) if (!el(x[i])) return false;
          return true;
        };
      }
      case "object": {
        // Strip (no catchall) or strict (catchall never): either way an exact value has only the shape's keys.
        if (checks.length > 0 || (d.catchall && defOf(d.catchall).type !== "never")) return null;
        const fields: [string, Exact][] = [];
        for (const [key, sub] of Object.entries(d.shape ?? {})) {
          const f = c(sub);
          if (!f) return null;
          fields.push([key, f]);
        }
        const names = new Set(fields.map(([key]) => key));
        return (x) => {
          if (x === null || typeof x !== "object" || Array.isArray(x)) return false;
          const o = x as Record<string, unknown>;
          for (const key in o) if (!names.has(key) || !Object.hasOwn(o, key)) return false;
          for (let i = 0; i < fields.length; i++) {
            const [key, f] = fields[i] as [string, Exact];
            if (!f(Object.hasOwn(o, key) ? o[key] : undefined)) return false;
          }
          return true;
        };
      }
      default:
        return null;
    }
  };
  return c(schema);
}
