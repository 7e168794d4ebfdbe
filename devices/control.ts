import { z } from "zod";
import { DeviceClockSchema } from "./status.js";
import type { StageSchema } from "./streetlight.js";

/** A key a stage must not carry beside its own start (a stage has exactly one start). */
const NotAlso = z.never({ error: "hint_stage_start" }).optional();
/**
 * A stage of a profile sent to a light: as a registered profile's (`StageSchema`), and with one start only: a stage
 * giving two (`afterDuskH` and `at`, say) is refused rather than one of them silently dropped.
 */
const CommandStageSchema = z.union([
  z.object({ afterDuskH: z.number().min(0).max(16), pct: z.number().min(0).max(100), beforeDawnH: NotAlso, at: NotAlso }),
  z.object({ beforeDawnH: z.number().min(0).max(16), pct: z.number().min(0).max(100), afterDuskH: NotAlso, at: NotAlso }),
  z.object({
    at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "hint_clock_time"),
    pct: z.number().min(0).max(100),
    afterDuskH: NotAlso,
    beforeDawnH: NotAlso,
  }),
]);
/** (the same stages as a registered profile's, and the profile's schema still accepts them) */
export type CommandStage = z.infer<typeof CommandStageSchema> & z.infer<typeof StageSchema>;

/*
 * Contract v1.1: commands to streetlights (PROTOCOL.md §3a). The service publishes each on
 * `streetlight/{id}/cmd/{name}` at QoS 1 with a command id; a v1.1 light answers on `streetlight/{id}/ack` with
 * `applied` or `rejected` and a reason. A v1 light ignores commands and keeps working: nothing here changes what it
 * sends. The limits below protect the hardware and are checked by the service before anything is sent (a command
 * outside them never reaches a light) and again by a v1.1 light, which rejects what it cannot do.
 */

export const LIGHT_COMMANDS = ["profile", "override", "config", "time"] as const;
export type LightCommandName = (typeof LIGHT_COMMANDS)[number];

/** A command's id: chosen by the service, echoed in the light's answer. */
export const CommandIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "hint_command_id");

const Pct = z.number().min(0, "hint_dim_range").max(100, "hint_dim_range");

/**
 * `cmd/profile` (retained: a light that reconnects gets it): the lighting schedule. Stages are relative to dusk
 * (`afterDuskH`), to dawn (`beforeDawnH`) or at a China clock time (`at`, "HH:MM": from 12:00 the evening, before it
 * the next morning), each with a dim level; a later stage wins once reached. No gap: the first stage starts at dusk
 * (a schedule that leaves the start of the night unlit is refused), and `dusk_plus` says how many hours (1–16;
 * `dusk_to_dawn` none). A profile dark all night (every stage 0 %) is a valid schedule and is accepted.
 */
export const ProfileBodySchema = z
  .object({
    mode: z.enum(["dusk_to_dawn", "dusk_plus"]),
    hours: z.number().positive().max(16).optional(),
    stages: z.array(CommandStageSchema).min(1).max(8),
  })
  .superRefine((p, ctx) => {
    const first = p.stages[0];
    if (!first || !("afterDuskH" in first) || first.afterDuskH !== 0) {
      ctx.addIssue({ code: "custom", path: ["stages", 0], message: "hint_profile_gap" });
    }
    if (p.mode === "dusk_plus" && (p.hours === undefined || p.hours < 1))
      ctx.addIssue({ code: "custom", path: ["hours"], message: "hint_profile_hours" });
    if (p.mode === "dusk_to_dawn" && p.hours !== undefined) ctx.addIssue({ code: "custom", path: ["hours"], message: "hint_profile_no_hours" });
    for (const [i, s] of p.stages.entries()) {
      if (s.pct < 0 || s.pct > 100) ctx.addIssue({ code: "custom", path: ["stages", i, "pct"], message: "hint_dim_range" });
    }
  });
export type ProfileBody = z.infer<typeof ProfileBodySchema>;
export const ProfileCommandSchema = z.object({ id: CommandIdSchema, profile: ProfileBodySchema });

/**
 * A dimming schedule that carries a battery through rainy days (DOMAIN.md): full at dusk, half four hours after it,
 * full again the hour before dawn. The example in PROTOCOL.md §3a, the API's example, the demo's and the bench's campaign.
 */
export const WINTER_DIMMING: ProfileBody = {
  mode: "dusk_to_dawn",
  stages: [
    { afterDuskH: 0, pct: 100 },
    { afterDuskH: 4, pct: 50 },
    { beforeDawnH: 1, pct: 100 },
  ],
};

/** `cmd/override`: on, off or a dim level for `minutes`, then back to the schedule. Only `dim` carries `pct`. */
export const OverrideBodySchema = z
  .object({
    action: z.enum(["on", "off", "dim"]),
    pct: Pct.optional(),
    minutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60),
  })
  .superRefine((o, ctx) => {
    if (o.action === "dim" && o.pct === undefined) ctx.addIssue({ code: "custom", path: ["pct"], message: "hint_dim_range" });
    if (o.action !== "dim" && o.pct !== undefined) ctx.addIssue({ code: "custom", path: ["pct"], message: "hint_override_pct" });
  });
export type OverrideBody = z.infer<typeof OverrideBodySchema>;
export const OverrideCommandSchema = z.object({ id: CommandIdSchema, override: OverrideBodySchema });

/** Battery chemistries and the low-voltage disconnect each may be set to (DOMAIN.md §2 "Battery protection"). */
export const CHEMISTRIES = ["lead_acid", "lifepo4"] as const;
export type Chemistry = (typeof CHEMISTRIES)[number];
/** Safe LVD per 12 V of nominal voltage (proposal, DOMAIN.md §2): deeper kills the battery, higher wastes it. */
export const LVD_RANGE_12V: Record<Chemistry, { min: number; max: number }> = {
  lead_acid: { min: 10.5, max: 11.5 },
  lifepo4: { min: 10.0, max: 11.6 },
};
/** The range for a battery: a light whose chemistry is not registered gets the range safe for both. */
export function lvdRange(chemistry: Chemistry | null, nominalV: 12 | 24): { min: number; max: number } {
  const k = nominalV / 12;
  const r = chemistry
    ? LVD_RANGE_12V[chemistry]
    : { min: LVD_RANGE_12V.lead_acid.min, max: Math.min(LVD_RANGE_12V.lead_acid.max, LVD_RANGE_12V.lifepo4.max) };
  return { min: Math.round(r.min * k * 100) / 100, max: Math.round(r.max * k * 100) / 100 };
}

/** `cmd/config`: report interval and low-voltage disconnect. `battery` says which range `lvdV` was checked against. */
export const ConfigBodySchema = z
  .object({
    reportIntervalS: z.number().int().min(60).max(3600).optional(),
    lvdV: z.number().min(0).max(32).optional(),
    battery: z.object({ chemistry: z.enum(CHEMISTRIES).nullable(), nominalV: z.union([z.literal(12), z.literal(24)]) }).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.reportIntervalS === undefined && c.lvdV === undefined) ctx.addIssue({ code: "custom", message: "hint_config_empty" });
    if (c.lvdV !== undefined) {
      const r = lvdRange(c.battery?.chemistry ?? null, c.battery?.nominalV ?? 12);
      if (c.lvdV < r.min || c.lvdV > r.max) ctx.addIssue({ code: "custom", path: ["lvdV"], message: "hint_lvd_range" });
    }
  });
export type ConfigBody = z.infer<typeof ConfigBodySchema>;
export const ConfigCommandSchema = z.object({ id: CommandIdSchema, config: ConfigBodySchema });

/** `cmd/time`: the service's clock (epoch ms) when it sent the command. */
export const TimeCommandSchema = z.object({ id: CommandIdSchema, time: z.object({ serverMs: z.number().int().positive() }) });

/** Each command's schema, by name: the service validates with these before sending, the simulator on receipt. */
export const LIGHT_COMMAND_SCHEMAS = {
  profile: ProfileCommandSchema,
  override: OverrideCommandSchema,
  config: ConfigCommandSchema,
  time: TimeCommandSchema,
} as const;

/**
 * Why a light refused a command: a code of 1–48 lower-case letters, digits and `_` (it may start with a digit:
 * `1st_stage_bad`), e.g. `invalid`, `unsupported`, `lvd_out_of_range`.
 */
export const AckReasonSchema = z.string().regex(/^[a-z0-9][a-z0-9_]{0,47}$/, "hint_ack_reason");

/**
 * `streetlight/{id}/ack` (light → service, QoS 1, not retained): the answer to command `id`. `clock` is the light's
 * own clock when it answered (epoch ms), from which the service tells a drifting clock; a reason when rejected.
 */
export const AckSchema = z
  .object({
    id: CommandIdSchema,
    cmd: z.enum(LIGHT_COMMANDS),
    result: z.enum(["applied", "rejected"]),
    reason: AckReasonSchema.optional(),
    clock: DeviceClockSchema.optional(),
  })
  .refine((a) => a.result === "applied" || a.reason !== undefined, { message: "hint_ack_reason", path: ["reason"] });
export type Ack = z.infer<typeof AckSchema>;
