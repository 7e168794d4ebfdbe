import { isDeepStrictEqual } from "node:util";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { LIGHT_COMMAND_SCHEMAS, lvdRange } from "../devices/control.js";
import { compileExact } from "../devices/exact.js";
import {
  BlenderBatchSchema,
  BlenderTelemetrySchema,
  type DecodeProblem,
  decodePayload,
  numericFields,
  parseTopic,
  StatusSchema,
  StreetlightTelemetrySchema,
  topics,
} from "../devices/index.js";
import { EXACT_KNOWN } from "../devices/time.js";
import { reading } from "../harness/helpers.js";
import { levelAt, nightOf } from "../src/streetlights/expectation.js";

const NOW = Date.UTC(2025, 10, 21, 10, 5);
const enc = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));
const decodeLight = (v: unknown, max = 65536) => decodePayload("streetlight", "telemetry", enc(v), NOW, max);
/** The fields a rejected payload's problems name. */
const issuePaths = (d: DecodeProblem) => (d.code === "payload_invalid" ? d.params.issues.map((i) => i.path.join(".")) : []);

describe("topics", () => {
  it.each([
    ["streetlight/L-1/telemetry", { ok: true, family: "streetlight", deviceId: "L-1", kind: "telemetry" }],
    ["blender/QJ_01/batch", { ok: true, family: "blender", deviceId: "QJ_01", kind: "batch" }],
    ["blender/QJ_01/status", { ok: true, family: "blender", deviceId: "QJ_01", kind: "status" }],
    ["blender/QJ_01/cmd/recipe", { ok: true, family: "blender", deviceId: "QJ_01", kind: "cmd", command: "recipe" }],
  ])("parses %s", (topic, expected) => {
    expect(parseTopic(topic)).toEqual(expected);
  });

  const publishes = { family: "streetlight", topics: ["streetlight/<id>/telemetry", "streetlight/<id>/status", "streetlight/<id>/ack"] };
  it.each([
    ["tractor/T1/telemetry", { code: "topic_family", params: { topic: "tractor/T1/telemetry" } }],
    ["streetlight/L 1/telemetry", { code: "topic_device_id", params: {} }],
    [`streetlight/${"x".repeat(65)}/telemetry`, { code: "topic_device_id", params: {} }],
    ["streetlight/L1/batch", { code: "topic_kind", params: publishes }],
    ["streetlight/L1/telemetry/extra", { code: "topic_kind", params: publishes }],
    ["streetlight/L1", { code: "topic_kind", params: publishes }],
    ["streetlight/L1/cmd", { code: "topic_command", params: {} }],
    ["streetlight/L1/cmd/Recipe!", { code: "topic_command", params: {} }],
    ["", { code: "topic_family", params: { topic: "" } }],
  ])("refuses %s", (topic, detail) => {
    const r = parseTopic(topic);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.detail).toEqual(detail);
  });

  it("builds what it parses", () => {
    expect(parseTopic(topics.uplink("streetlight", "A1", "telemetry"))).toMatchObject({ ok: true, deviceId: "A1" });
    expect(parseTopic(topics.command("blender", "B1", "recipe"))).toMatchObject({ ok: true, kind: "cmd", command: "recipe" });
    expect(topics.serviceFilters()).toEqual([
      "streetlight/+/telemetry",
      "streetlight/+/status",
      "streetlight/+/ack",
      "blender/+/telemetry",
      "blender/+/batch",
      "blender/+/status",
    ]);
  });
});

describe("streetlight reading v1", () => {
  it("accepts the example from PROTOCOL.md, with ts in ms or RFC 3339", () => {
    const ok = decodeLight(reading(NOW - 1000));
    expect(ok).toMatchObject({ ok: true, ts: NOW - 1000 });
    const rfc = decodeLight(reading("2025-11-21T18:04:00+08:00" as unknown as number));
    expect(rfc).toMatchObject({ ok: true, ts: Date.UTC(2025, 10, 21, 10, 4) });
  });

  it.each<[string, unknown, string, string?]>([
    ["malformed JSON", '{"ts": 1,', "bad_json"],
    ["not an object", "[1,2,3]", "invalid"],
    ["wrong type", { ...reading(NOW), battery: { v: "12.9", soc: 78, tempC: 14 } }, "invalid", "battery.v"],
    ["state of charge over 100", { ...reading(NOW), battery: { v: 12.9, soc: 101, tempC: 14 } }, "invalid", "battery.soc"],
    ["negative power", { ...reading(NOW), load: { on: true, w: -1, a: 0, dimPct: 100 } }, "invalid", "load.w"],
    ["huge number", { ...reading(NOW), pv: { v: 1e308, a: 0, w: 0 } }, "invalid", "pv.v"],
    ["NaN as text", '{"ts":1763719500000,"pv":{"v":NaN}}', "bad_json"],
    ["NaN as a string", { ...reading(NOW), pv: { v: "NaN", a: 0, w: 0 } }, "invalid", "pv.v"],
    ["unknown fault", { ...reading(NOW), faults: ["lamp_on_fire"] }, "invalid", "faults.0"],
    ["missing field", { ts: NOW, pv: { v: 1, a: 0, w: 0 } }, "invalid", "battery"],
    ["latitude out of range", { ...reading(NOW), gps: { lat: 91, lon: 105 } }, "invalid", "gps.lat"],
    ["fractional ms", { ...reading(NOW), ts: NOW + 0.5 }, "invalid", "ts"],
    ["local time without a zone", { ...reading(NOW), ts: "2025-11-21T18:04:00" }, "invalid", "ts"],
    ["unset device clock", { ...reading(NOW), ts: 0 }, "invalid", "ts"],
    ["6 minutes in the future", reading(NOW + 6 * 60_000), "ts_future"],
    ["61 days old", reading(NOW - 61 * 86_400_000), "ts_too_old"],
    ["invalid UTF-8", Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), "not_utf8"],
  ])("rejects %s", (_name, payload, reason, path) => {
    const r = decodePayload("streetlight", "telemetry", Buffer.isBuffer(payload) ? payload : enc(payload), NOW, 65536);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toBe(reason);
      if (path) expect(issuePaths(r.detail)).toContain(path);
    }
  });

  it("accepts late data up to 60 days and up to 5 minutes ahead", () => {
    expect(decodeLight(reading(NOW - 59 * 86_400_000)).ok).toBe(true);
    expect(decodeLight(reading(NOW + 4 * 60_000)).ok).toBe(true);
  });

  it("rejects a payload over the size limit before parsing it", () => {
    const r = decodeLight("x".repeat(2000), 1000);
    expect(r).toEqual({ ok: false, reason: "too_large", detail: { code: "payload_over_limit", params: { bytes: 2000, limit: 1000 } } });
  });
});

describe("blending machine v1", () => {
  const batch = (body: Record<string, unknown>) => decodePayload("blender", "batch", enc(body), NOW, 65536);
  it("accepts telemetry and each batch event", () => {
    expect(
      decodePayload(
        "blender",
        "telemetry",
        enc({ ts: NOW, state: "running", hopperKg: { urea: 800, kcl: 400 }, scaleKg: 512.5, mixerA: 18.2, bagsTotal: 2400 }),
        NOW,
        65536,
      ).ok,
    ).toBe(true);
    const base = { ts: NOW, batchId: "B-0001", orderId: "ORD-1" };
    expect(batch({ ...base, event: "started", targetKg: { urea: 257, map: 288.5, kcl: 250, filler: 204.5 } }).ok).toBe(true);
    expect(batch({ ...base, event: "completed", actualKg: { urea: 256.1 }, bags: 20 }).ok).toBe(true);
    expect(batch({ ...base, event: "held", reason: "kcl out of tolerance" }).ok).toBe(true);
    expect(batch({ ...base, event: "resumed" }).ok).toBe(true);
    expect(batch({ ...base, event: "aborted", reason: "hopper empty" }).ok).toBe(true);
  });
  it.each<[string, Record<string, unknown>, string]>([
    ["started without targets", { event: "started" }, "targetKg"],
    ["completed without bags", { event: "completed", actualKg: { urea: 1 } }, "bags"],
    ["held without a reason", { event: "held" }, "reason"],
    ["unknown event", { event: "exploded" }, "event"],
    ["bad material code", { event: "started", targetKg: { "Urea!": 1 } }, "targetKg"],
    ["negative kg", { event: "started", targetKg: { urea: -5 } }, "targetKg"],
  ])("rejects a batch event %s", (_n, body, path) => {
    const r = batch({ ts: NOW, batchId: "B-1", orderId: "O-1", ...body });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(issuePaths(r.detail).some((p) => p.startsWith(path))).toBe(true);
  });
});

describe("numeric fields", () => {
  it("flattens nested numbers and booleans, skipping ts and arrays", () => {
    expect(numericFields(reading(NOW))).toEqual({
      "pv.v": 0.4,
      "pv.a": 0,
      "pv.w": 0,
      "battery.v": 12.9,
      "battery.soc": 78,
      "battery.tempC": 14.5,
      "load.on": 1,
      "load.w": 29.6,
      "load.a": 2.31,
      "load.dimPct": 100,
      "energyToday.pvWh": 410,
      "energyToday.loadWh": 35,
      "gps.lat": 29.3512,
      "gps.lon": 105.9113,
      "gps.accM": 3,
    });
  });
});

describe("the contract's fast path (devices/exact.ts) never vouches for what zod would not return as it is", () => {
  const known = EXACT_KNOWN; // what decodePayload compiles with
  /** A small seeded generator, so a failure can be replayed. */
  const rng = (seed: number) => () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const ODD: unknown[] = [null, true, false, "1", "", 0, -1, 1.5, 1e21, -0.0001, 2 ** 53, [], {}, [1], { x: 1 }, "2025-11-21T18:05:00+08:00"];
  /** Replaces, removes or adds something at a random depth; or nudges a number just past a limit. */
  const mutate = (v: unknown, r: () => number): unknown => {
    if (v === null || typeof v !== "object") {
      const roll = r();
      if (typeof v === "number" && roll < 0.5) return v + ([-1, 1, -0.001, 0.001, 1000, -1000][Math.floor(r() * 6)] ?? 0);
      return ODD[Math.floor(r() * ODD.length)];
    }
    const copy: Record<string, unknown> | unknown[] = Array.isArray(v) ? [...v] : { ...(v as Record<string, unknown>) };
    const keys = Object.keys(copy);
    const roll = r();
    if (roll < 0.15) (copy as Record<string, unknown>)[["extra", "__proto__", "constructor", "ts", "pv"][Math.floor(r() * 5)] as string] = 1;
    else if (roll < 0.3 && keys.length > 0) delete (copy as Record<string, unknown>)[keys[Math.floor(r() * keys.length)] as string];
    else if (keys.length > 0) {
      const k = keys[Math.floor(r() * keys.length)] as string;
      (copy as Record<string, unknown>)[k] = mutate((copy as Record<string, unknown>)[k], r);
    }
    return copy;
  };
  const cases: [string, z.ZodType, unknown][] = [
    ["streetlight/telemetry", StreetlightTelemetrySchema, reading(NOW)],
    ["streetlight/telemetry without gps", StreetlightTelemetrySchema, { ...reading(NOW), gps: undefined, faults: ["over_discharge", "load_open"] }],
    ["status", StatusSchema, { online: true, fw: "1.4.2", ts: NOW }],
    ["status without ts", StatusSchema, { online: false }],
  ];
  it.each(cases)("%s: valid messages take the fast path; thousands of mutations agree with zod", (_name, schema, valid) => {
    const exact = compileExact(schema, known);
    expect(exact).not.toBeNull();
    if (!exact) return;
    const base = JSON.parse(JSON.stringify(valid));
    expect(exact(base)).toBe(true); // the common case does skip zod
    const r = rng(42);
    let vouched = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      let v: unknown = base;
      for (let m = 1 + Math.floor(r() * 3); m > 0; m--) v = mutate(v, r);
      v = JSON.parse(JSON.stringify(v) ?? "null"); // what a device can send
      const z = schema.safeParse(v);
      if (exact(v)) {
        vouched++;
        expect(z.success, JSON.stringify(v)).toBe(true);
        expect(z.data, JSON.stringify(v)).toStrictEqual(v);
      } else if (!z.success) refused++;
    }
    // The mutations reach both sides: some still valid and vouched for, many invalid.
    expect(vouched).toBeGreaterThan(500);
    expect(refused).toBeGreaterThan(5_000);
  });
  it("every limit of every reading field: at it is vouched for, past it goes to zod (which refuses it)", () => {
    const exact = compileExact(StreetlightTelemetrySchema, known) as (v: unknown) => boolean;
    const limits: [string, string, number, number][] = [
      ["pv", "v", 0, 60],
      ["pv", "a", 0, 30],
      ["pv", "w", 0, 1000],
      ["battery", "v", 0, 32],
      ["battery", "soc", 0, 100],
      ["battery", "tempC", -40, 85],
      ["load", "w", 0, 500],
      ["load", "a", 0, 40],
      ["load", "dimPct", 0, 100],
      ["energyToday", "pvWh", 0, 20_000],
      ["energyToday", "loadWh", 0, 20_000],
    ];
    for (const [group, field, min, max] of limits) {
      for (const [value, ok] of [
        [min, true],
        [max, true],
        [min - 0.001, false],
        [max + 0.001, false],
      ] as const) {
        const base = reading(NOW) as unknown as Record<string, Record<string, unknown>>;
        const v = { ...base, [group]: { ...base[group], [field]: value } };
        expect(exact(v), `${group}.${field} = ${value}`).toBe(ok);
        expect(StreetlightTelemetrySchema.safeParse(v).success, `${group}.${field} = ${value}`).toBe(ok);
      }
    }
    for (const ts of [Date.UTC(1999, 11, 31), Date.UTC(2100, 0, 1) + 1, NOW + 0.5, "2025-11-21T18:05:00+08:00"]) {
      expect(exact({ ...reading(NOW), ts }), String(ts)).toBe(false);
    }
    expect(exact({ ...reading(NOW), faults: Array(10).fill("load_open") })).toBe(false);
    expect(exact({ ...reading(NOW), faults: ["lamp_gone"] })).toBe(false);
  });
  it("models the other parts it compiles as zod does: exclusive bounds, whole numbers, literals, patterns, null, absence", () => {
    const schema = z.object({
      n: z.number().positive().lt(10),
      i: z.number().int().min(-3),
      kind: z.literal("a"),
      code: z
        .string()
        .regex(/^[A-Z]{2}$/)
        .max(2),
      note: z.string().nullable(),
      opt: z.boolean().optional(),
      list: z.array(z.number().max(1)).min(1).max(2),
    });
    const exact = compileExact(schema) as (v: unknown) => boolean;
    const ok = { n: 5, i: -3, kind: "a", code: "AB", note: null, list: [1] };
    const variants: Record<string, unknown>[] = [
      ok,
      { ...ok, n: 0 },
      { ...ok, n: 10 },
      { ...ok, n: 9.99 },
      { ...ok, n: 1e-9 },
      { ...ok, i: 1.5 },
      { ...ok, i: -4 },
      { ...ok, kind: "b" },
      { ...ok, code: "ab" },
      { ...ok, code: "ABC" },
      { ...ok, note: "x" },
      { ...ok, note: undefined },
      { ...ok, opt: true },
      { ...ok, opt: null },
      { ...ok, list: [] },
      { ...ok, list: [1, 1, 1] },
      { ...ok, list: [2] },
      { ...ok, extra: 1 },
    ];
    for (const v of variants) {
      const z2 = schema.safeParse(v);
      const same = z2.success && isDeepStrictEqual(z2.data, v);
      expect(exact(v), JSON.stringify(v)).toBe(same);
    }
  });
  it("compiles to nothing for schemas with parts it does not model (records with refinements), so zod reads those", () => {
    expect(compileExact(BlenderTelemetrySchema, known)).toBeNull();
    expect(compileExact(BlenderBatchSchema, known)).toBeNull();
  });
  it("decodes the same with and without it: a valid reading, one with an extra field (stripped), one with an RFC 3339 ts", () => {
    const extra = decodeLight({ ...reading(NOW), firmwareNote: "x" });
    const iso = decodeLight({ ...reading(NOW), ts: "2025-11-21T18:05:00+08:00" });
    const plain = decodeLight(reading(NOW));
    expect(plain.ok && extra.ok && iso.ok).toBe(true);
    if (plain.ok && extra.ok && iso.ok) {
      expect(extra.message.body).toStrictEqual(plain.message.body);
      expect(iso.ts).toBe(Date.parse("2025-11-21T18:05:00+08:00"));
      // The payload's own bytes go to the write-ahead log only when they are exactly the body, on one line, no BOM.
      expect(plain.ownJson).toBe(true);
      expect(extra.ownJson).toBeUndefined();
      expect(iso.ownJson).toBeUndefined();
    }
    const pretty = decodeLight(JSON.stringify(reading(NOW), null, 2));
    expect(pretty.ok).toBe(true);
    expect(pretty.ok && pretty.ownJson).toBeUndefined();
    const bom = decodePayload("streetlight", "telemetry", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc(reading(NOW))]), NOW, 65536);
    expect(bom.ok && bom.message.body).toStrictEqual(plain.ok && plain.message.body);
    expect(bom.ok && bom.ownJson).toBeUndefined();
  });
});

describe("streetlight commands and answers, v1.1", () => {
  const ok = (name: keyof typeof LIGHT_COMMAND_SCHEMAS, body: unknown) => LIGHT_COMMAND_SCHEMAS[name].safeParse({ id: "C1", [name]: body }).success;
  it("keeps to the hardware's limits: dim 0–100 %, no gap at dusk, an LVD in the battery's range", () => {
    expect(ok("override", { action: "dim", pct: 50, minutes: 30 })).toBe(true);
    expect(ok("override", { action: "dim", pct: 250, minutes: 30 })).toBe(false);
    expect(ok("override", { action: "dim", minutes: 30 })).toBe(false);
    expect(ok("override", { action: "off", minutes: 0 })).toBe(false);
    expect(
      ok("profile", {
        mode: "dusk_to_dawn",
        stages: [
          { afterDuskH: 0, pct: 100 },
          { at: "23:30", pct: 40 },
          { beforeDawnH: 1, pct: 100 },
        ],
      }),
    ).toBe(true);
    expect(ok("profile", { mode: "dusk_to_dawn", stages: [{ afterDuskH: 1, pct: 100 }] })).toBe(false);
    expect(ok("profile", { mode: "dusk_plus", stages: [{ afterDuskH: 0, pct: 100 }] })).toBe(false);
    expect(ok("profile", { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct: -1 }] })).toBe(false);
    expect(ok("config", { lvdV: 11, battery: { chemistry: "lead_acid", nominalV: 12 } })).toBe(true);
    expect(ok("config", { lvdV: 5, battery: { chemistry: "lead_acid", nominalV: 12 } })).toBe(false);
    expect(ok("config", { lvdV: 10.2, battery: { chemistry: "lifepo4", nominalV: 12 } })).toBe(true);
    expect(ok("config", { lvdV: 10.2, battery: { chemistry: "lead_acid", nominalV: 12 } })).toBe(false);
    expect(ok("config", { lvdV: 22, battery: { chemistry: "lead_acid", nominalV: 24 } })).toBe(true);
    expect(ok("config", {})).toBe(false);
    expect(lvdRange(null, 12)).toEqual({ min: 10.5, max: 11.5 });
  });
  it("takes a light's answer on its ack topic, stored at the time it arrived (a drifting clock does not lose it)", () => {
    const ack = (v: unknown) => decodePayload("streetlight", "ack", enc(v), NOW, 65536);
    expect(ack({ id: "C1", cmd: "profile", result: "applied", clock: NOW + 3_600_000 })).toMatchObject({ ok: true, ts: NOW });
    expect(ack({ id: "C1", cmd: "profile", result: "rejected", reason: "unsupported" })).toMatchObject({ ok: true });
    expect(ack({ id: "C1", cmd: "profile", result: "rejected" })).toMatchObject({ ok: false, reason: "invalid" });
    expect(ack({ id: "C1", cmd: "reboot", result: "applied" })).toMatchObject({ ok: false, reason: "invalid" });
    expect(decodePayload("blender", "ack", enc({}), NOW, 65536)).toMatchObject({ ok: false, reason: "bad_topic" });
  });
  it("places a clock-time stage in the evening from 12:00 and the next morning before it", () => {
    const profile = {
      mode: "dusk_to_dawn" as const,
      stages: [
        { afterDuskH: 0, pct: 100 },
        { at: "22:00", pct: 50 },
        { at: "05:00", pct: 100 },
      ],
    };
    const n = nightOf("2025-12-21", 29.35, 105.9, profile);
    expect(levelAt(Date.parse("2025-12-21T21:59:00+08:00"), n, profile)).toBe(100);
    expect(levelAt(Date.parse("2025-12-21T22:00:00+08:00"), n, profile)).toBe(50);
    expect(levelAt(Date.parse("2025-12-22T04:59:00+08:00"), n, profile)).toBe(50);
    expect(levelAt(Date.parse("2025-12-22T05:00:00+08:00"), n, profile)).toBe(100);
  });
});
