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
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/**
 * Compiled to one JavaScript function with `new Function`, each object of the shape a function of straight-line tests
 * (a tree of closures, before, cost a reading about 1 µs; docs/BENCHMARKS.md). The code is made from the schema's own
 * definition only: its keys (as JSON string literals), its numeric limits (as number literals) and references to
 * the values in `refs` (regular expressions, enum sets, the `known` checks); nothing a device sends is compiled.
 */
export function compileExact(schema: z.ZodType, known: ReadonlyMap<z.ZodType, Exact> = new Map()): Exact | null {
  const refs: unknown[] = [];
  const ref = (value: unknown) => `r[${refs.push(value) - 1}]`;
  const functions: string[] = [];
  /** A function of the generated code (its name); `body` tests `x`. */
  const fn = (body: string) => {
    const name = `f${functions.length}`;
    functions.push(`function ${name}(x) {\n${body}\n}`);
    return name;
  };
  const lit = (n: unknown) => {
    if (typeof n !== "number" || !Number.isFinite(n)) throw new Error("not a finite number");
    return Object.is(n, -0) ? "-0" : String(n);
  };
  /** A JavaScript expression that is true when `v` (a variable) is exactly valid for `s`; null when `s` is not modelled. */
  const c = (s: z.ZodType, v: string): string | null => {
    const k = known.get(s);
    if (k) return `${ref(k)}(${v})`;
    const d = defOf(s);
    const checks = (d.checks ?? []).map((x) => x._zod.def);
    switch (d.type) {
      case "number": {
        const tests = [`typeof ${v} === "number"`, `Number.isFinite(${v})`];
        for (const ch of checks) {
          if (ch.check === "greater_than") tests.push(`${v} ${ch.inclusive ? ">=" : ">"} ${lit(ch.value)}`);
          else if (ch.check === "less_than") tests.push(`${v} ${ch.inclusive ? "<=" : "<"} ${lit(ch.value)}`);
          else if (ch.check === "number_format" && ch.format === "safeint") tests.push(`Number.isSafeInteger(${v})`);
          else return null;
        }
        return `(${tests.join(" && ")})`;
      }
      case "boolean":
        return checks.length === 0 ? `(typeof ${v} === "boolean")` : null;
      case "string": {
        const tests = [`typeof ${v} === "string"`];
        for (const ch of checks) {
          if (ch.check === "min_length") tests.push(`${v}.length >= ${lit(ch.minimum)}`);
          else if (ch.check === "max_length") tests.push(`${v}.length <= ${lit(ch.maximum)}`);
          else if (ch.check === "string_format" && ch.format === "regex") {
            const re = ch.pattern as RegExp;
            tests.push(
              `${ref((t: string) => {
                re.lastIndex = 0;
                return re.test(t);
              })}(${v})`,
            );
          } else return null;
        }
        return `(${tests.join(" && ")})`;
      }
      case "enum": {
        if (checks.length > 0) return null;
        const values = ref(new Set(Object.values(d.entries ?? {})));
        return `((typeof ${v} === "string" || typeof ${v} === "number") && ${values}.has(${v}))`;
      }
      case "literal": {
        if (checks.length > 0) return null;
        return `${ref(d.values ?? [])}.includes(${v})`;
      }
      case "optional": {
        const inner = d.innerType && c(d.innerType, v);
        return inner && checks.length === 0 ? `(${v} === undefined || ${inner})` : null;
      }
      case "nullable": {
        const inner = d.innerType && c(d.innerType, v);
        return inner && checks.length === 0 ? `(${v} === null || ${inner})` : null;
      }
      case "array": {
        const el = d.element && c(d.element, "e");
        if (!el) return null;
        let min = 0;
        let max = Number.POSITIVE_INFINITY;
        for (const ch of checks) {
          if (ch.check === "min_length") min = ch.minimum as number;
          else if (ch.check === "max_length") max = ch.maximum as number;
          else return null;
        }
        const bound = Number.isFinite(max) ? ` || x.length > ${lit(max)}` : "";
        const name = fn(
          `if (!Array.isArray(x) || x.length < ${lit(min)}${bound}) return false;
  for (let i = 0; i < x.length; i++) { const e = x[i]; if (!${el}) return false; }
  return true;`,
        );
        return `${name}(${v})`;
      }
      case "object": {
        // Strip (no catchall) or strict (catchall never): either way an exact value has only the shape's keys.
        if (checks.length > 0 || (d.catchall && defOf(d.catchall).type !== "never")) return null;
        const fields = Object.entries(d.shape ?? {});
        const keys = fields.map(([key]) => key);
        const reads: string[] = [];
        const tests: string[] = [];
        for (const [i, [key, sub]] of fields.entries()) {
          const t = c(sub, `v${i}`);
          if (!t) return null;
          const k = JSON.stringify(key);
          reads.push(`const v${i} = Object.hasOwn(x, ${k}) ? x[${k}] : undefined;`);
          tests.push(`if (!${t}) return false;`);
        }
        const cases = keys.map((key) => `case ${JSON.stringify(key)}:`).join(" ");
        const name = fn(
          `if (x === null || typeof x !== "object" || Array.isArray(x)) return false;
  for (const k in x) { switch (k) { ${cases} break; default: return false; } if (!Object.hasOwn(x, k)) return false; }
  ${reads.join("\n  ")}
  ${tests.join("\n  ")}
  return true;`,
        );
        return `${name}(${v})`;
      }
      default:
        return null;
    }
  };
  const test = c(schema, "x");
  if (test === null) return null;
  // (the code is made from our own schema only: see above)
  return new Function("r", `"use strict";\n${functions.join("\n")}\nreturn function exact(x) { return ${test}; };`)(refs) as Exact;
}
