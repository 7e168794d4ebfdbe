import { z } from "zod";
import { TimestampSchema } from "./time.js";

/**
 * Streetlight controller reading, contract v1.
 * Ranges: DOMAIN.md §2 "What a controller measures" (12 V systems; 24 V systems are allowed for,
 * so voltages go up to what a 24 V controller can show). A value outside a range is rejected.
 */
export const FAULT_CODES = [
  "over_discharge", // battery at low-voltage disconnect
  "load_short",
  "load_open", // lamp circuit open (no current with the relay closed)
  "pv_short",
  "pv_reversed",
  "no_pv_input",
  "over_temperature",
  "battery_over_voltage",
  "controller_fault",
] as const;
export const FaultSchema = z.enum(FAULT_CODES);

export const StreetlightTelemetrySchema = z.object({
  ts: TimestampSchema,
  pv: z.object({
    v: z.number().min(0).max(60), // V: open-circuit voltage of a 24 V panel string stays under ~50 V
    a: z.number().min(0).max(30), // A
    w: z.number().min(0).max(1000), // W: panels are 60–300 Wp
  }),
  battery: z.object({
    v: z.number().min(0).max(32), // V: 12 V or 24 V system
    soc: z.number().min(0).max(100), // %
    tempC: z.number().min(-40).max(85), // °C
  }),
  load: z.object({
    on: z.boolean(),
    w: z.number().min(0).max(500), // W: lamps are 20–40 W; 500 W is far past any street lamp
    a: z.number().min(0).max(40), // A
    dimPct: z.number().min(0).max(100), // %
  }),
  energyToday: z.object({
    pvWh: z.number().min(0).max(20_000),
    loadWh: z.number().min(0).max(20_000),
  }),
  faults: z.array(FaultSchema).max(FAULT_CODES.length),
  gps: z
    .object({
      lat: z.number().min(-90).max(90),
      lon: z.number().min(-180).max(180),
      accM: z.number().min(0).max(100_000).optional(),
    })
    .optional(),
});
export type StreetlightTelemetry = z.infer<typeof StreetlightTelemetrySchema>;

/** How often a light reports, and so when silence means offline (3 × this). */
export const STREETLIGHT_REPORT_INTERVAL_S = 300;

/**
 * A light's lighting profile, registered with the light (and, from protocol v1.1, sent to it): when it should be lit and
 * at what power (DOMAIN.md §2 "When a lamp should be lit"; the rules judge a light against it).
 */
export const StageSchema = z.union([
  z.object({ afterDuskH: z.number().min(0).max(16), pct: z.number().min(0).max(100) }),
  z.object({ beforeDawnH: z.number().min(0).max(16), pct: z.number().min(0).max(100) }),
  /** From v1.1: a China clock time, "HH:MM" (from 12:00 the evening of the night, before it the next morning). */
  z.object({ at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "hint_clock_time"), pct: z.number().min(0).max(100) }),
]);
export const ProfileSchema = z.object({
  /** dusk_to_dawn, or dusk_plus: lit for `hours` after dusk. */
  mode: z.enum(["dusk_to_dawn", "dusk_plus"]).default("dusk_to_dawn"),
  hours: z.number().positive().max(16).optional(),
  /** Dimming stages, later ones win: e.g. 100 % from dusk, 50 % after 4 h, 100 % the last hour (DOMAIN.md §2). */
  stages: z
    .array(StageSchema)
    .max(8)
    .default([{ afterDuskH: 0, pct: 100 }]),
});
