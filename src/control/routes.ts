import { z } from "zod";
import { CHEMISTRIES, DeviceIdSchema, OverrideBodySchema, ProfileBodySchema, WINTER_DIMMING } from "../../devices/index.js";
import type { Role } from "../access/roles.js";
import { type Access, named, placeOf, type Resolved, townsReached } from "../access/scope.js";
import { errors, IdParam, IsoTime, withExample, XLSX_TYPE, xlsxFile } from "../http/schemas.js";
import { ALL_ROLES, type Api } from "../http/server.js";
import { chinaDate } from "../platform/clock.js";
import { conflict, invalid, notFound } from "../platform/errors.js";
import type { Catalogue } from "../platform/i18n.js";
import type { Registry } from "../registry/registry.js";
import type { DeviceRecord } from "../registry/store.js";
import { DEFAULT_PROFILE, ProfileSchema } from "../streetlights/expectation.js";
import type { NightStore } from "../streetlights/store.js";
import { energyReport, energyXlsx } from "./energy.js";
import { checkOutcome, currentProfile, estimateProfile } from "./estimate.js";
import { controlMessage } from "./messages.js";
import type { LightControl } from "./service.js";
import { COMMAND_STATES, type LightCommand } from "./store.js";

/** Technicians and admins of a town may control its lights; operators and finance may not (issue 22). */
const CONTROL: readonly Role[] = ["admin", "technician"];

/**
 * What a request asks a light to do. For `config` the light's registered battery is used (devices/control.ts): a
 * `battery` given must be that one (else 422 `config_battery`); it cannot change what `lvdV` is checked against.
 */
const ConfigRequest = z.object({
  reportIntervalS: z.number().int().min(60).max(3600).optional(),
  lvdV: z.number().min(0).max(32).optional(),
  battery: z
    .object({ chemistry: z.enum(CHEMISTRIES).nullable(), nominalV: z.union([z.literal(12), z.literal(24)]) })
    .optional()
    .describe("Optional, and only as registered for the light (batteryChemistry, systemV): another is refused with 422"),
});
export const CommandRequest = z.discriminatedUnion("name", [
  z.object({ name: z.literal("profile"), profile: ProfileBodySchema }),
  z.object({ name: z.literal("override"), override: OverrideBodySchema }),
  z.object({ name: z.literal("config"), config: ConfigRequest }),
  z.object({ name: z.literal("time") }),
]);
type CommandRequest = z.infer<typeof CommandRequest>;
const CampaignCommand = z.discriminatedUnion("name", [
  z.object({ name: z.literal("profile"), profile: ProfileBodySchema }),
  z.object({ name: z.literal("override"), override: OverrideBodySchema }),
  z.object({ name: z.literal("config"), config: ConfigRequest }),
]);
const bodyOf = (c: CommandRequest, now: number): unknown =>
  c.name === "profile" ? c.profile : c.name === "override" ? c.override : c.name === "config" ? c.config : { serverMs: now };

const Target = z.object({
  town: z.string().min(1).max(64).optional(),
  village: z.string().min(1).max(64).optional(),
  road: z.string().min(1).max(64).optional(),
  deviceIds: z.array(DeviceIdSchema).min(1).max(20_000).optional(),
});
type Target = z.infer<typeof Target>;
const ExpiresInH = z
  .number()
  .positive()
  .max(24 * 90)
  .optional();

/** A command as the API shows it (the example of Command and of the list). */
const COMMAND_EXAMPLE = {
  id: "C3f9a1c0d2b7e4f5a6b7c",
  deviceId: "YC-LS-0001",
  campaignId: null,
  name: "override",
  body: { action: "dim", pct: 50, minutes: 120 },
  state: "applied",
  createdBy: "王工",
  createdAt: "2026-11-30T10:02:00.000Z",
  sentAt: "2026-11-30T10:02:00.120Z",
  sends: 1,
  answeredAt: "2026-11-30T10:02:01.003Z",
  expiresAt: "2026-12-03T10:02:00.000Z",
  reason: null,
} as const;

const Command = withExample(
  z.object({
    id: z.string(),
    deviceId: z.string(),
    campaignId: z.string().nullable(),
    name: z.enum(["profile", "override", "config", "time"]),
    body: z.unknown(),
    state: z.enum(COMMAND_STATES),
    createdBy: z.string(),
    createdAt: IsoTime,
    sentAt: IsoTime.nullable(),
    sends: z.number().int(),
    answeredAt: IsoTime.nullable(),
    expiresAt: IsoTime,
    reason: z.string().nullable(),
  }),
  COMMAND_EXAMPLE,
  {
    id: "LightCommand",
    description: "A command to a light and its delivery: created → sent → applied | rejected | expired (a campaign's unsent ones: cancelled)",
  },
);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const commandOut = (c: LightCommand) => ({
  id: c.id,
  deviceId: c.deviceId,
  campaignId: c.campaignId,
  name: c.name,
  body: c.body,
  state: c.state,
  createdBy: c.createdBy,
  createdAt: iso(c.createdAt) as string,
  sentAt: iso(c.sentAt),
  sends: c.sends,
  answeredAt: iso(c.answeredAt),
  expiresAt: iso(c.expiresAt) as string,
  reason: c.reason,
});

const Estimate = z
  .object({
    lights: z.number().int(),
    nightKWhNow: z.number(),
    nightKWhNew: z.number(),
    savingPct: z.number(),
    recentLoadKWh: z.number().nullable(),
    recentPvKWh: z.number().nullable(),
    autonomyDaysNow: z.number(),
    autonomyDaysNew: z.number(),
    lightsShortOfPv: z.number().int(),
    nightsFrom: z.string(),
    nightsTo: z.string(),
  })
  .describe("Energy a new profile saves tonight, the lights' own recent load and PV, and days of battery autonomy now and after");
const Counts = z.object({
  lights: z.number().int(),
  sent: z.number().int(),
  awaitingAnswer: z.number().int(),
  queued: z.number().int(),
  waitingOffline: z.number().int(),
  applied: z.number().int(),
  rejected: z.number().int(),
  expired: z.number().int(),
  cancelled: z.number().int(),
});
/** A campaign as the API shows it (the example of CampaignOut and of the list). */
const CAMPAIGN_EXAMPLE = {
  id: "K5b2e0c9a41d3",
  name: "梳妆台村冬季调光",
  town: "来苏镇",
  target: { town: "来苏镇", village: "梳妆台村" },
  command: {
    name: "profile",
    body: WINTER_DIMMING,
  },
  state: "running" as const,
  createdBy: "王工",
  createdAt: "2026-11-30T10:00:00.000Z",
  expiresAt: "2026-12-03T10:00:00.000Z",
  estimate: null,
  counts: { lights: 270, sent: 250, awaitingAnswer: 12, queued: 0, waitingOffline: 20, applied: 230, rejected: 8, expired: 0, cancelled: 0 },
};

const CampaignOut = withExample(
  z.object({
    id: z.string(),
    name: z.string(),
    town: z.string().nullable(),
    target: z.object({
      town: z.string().optional(),
      village: z.string().optional(),
      road: z.string().optional(),
      deviceIds: z.array(z.string()).optional(),
    }),
    command: z.object({ name: z.string(), body: z.unknown() }),
    state: z.enum(["running", "paused", "cancelled", "done"]),
    createdBy: z.string(),
    createdAt: IsoTime,
    expiresAt: IsoTime,
    estimate: Estimate.nullable(),
    counts: Counts.optional(),
  }),
  CAMPAIGN_EXAMPLE,
  { id: "LightCampaign", description: "A campaign: one command to many lights, sent in waves, with live counts" },
);

/** An estimate as the API answers it (the estimate route's example, and a campaign's and its outcome's). */
const ESTIMATE_EXAMPLE = {
  lights: 270,
  nightKWhNow: 8.1,
  nightKWhNew: 5.9,
  savingPct: 27,
  recentLoadKWh: 8.3,
  recentPvKWh: 31.4,
  autonomyDaysNow: 2.9,
  autonomyDaysNew: 4,
  lightsShortOfPv: 12,
  nightsFrom: "2026-11-23",
  nightsTo: "2026-11-29",
};

export function controlRoutes(
  app: Api,
  deps: { control: LightControl; registry: Registry; nights: NightStore; clock: () => number; access: Access; messages: Catalogue },
) {
  const { control, registry, clock } = deps;
  const lightOf = (id: string) => {
    const d = registry.get(id);
    return d?.family === "streetlight" ? d : null;
  };
  /**
   * Where a target is: a light named by its id (unknown or outside the caller's scope: 404 alike), the lights of a list
   * each so, or a town's place (outside: 403).
   */
  const targetPlace = (t: Target & { deviceId?: string }): Resolved => {
    if (t.deviceId !== undefined) return named("streetlight", [t.deviceId], lightOf);
    if (t.deviceIds) {
      // (lights across several towns are everywhere: only callers without limits)
      const towns = new Set(t.deviceIds.map((id) => lightOf(id)?.town ?? null));
      const lights = named("streetlight", t.deviceIds, lightOf);
      return towns.size === 1 ? lights : [...lights, { town: null, station: null, shared: true }];
    }
    return placeOf({ town: t.town });
  };
  // (a command's body names its light; a campaign's its target)
  deps.access.define("light_target", (subject) => {
    const b = (subject ?? {}) as { deviceId?: string; target?: Target };
    return targetPlace(b.deviceId !== undefined ? { deviceId: b.deviceId } : (b.target ?? {}));
  });
  // (a campaign across several towns is in no one town: only a caller without town limits reaches it, as in the list)
  deps.access.define("campaign", async (id) => {
    const k = await control.campaign(String(id));
    return k ? { town: k.town, station: null } : null;
  });

  /** The lights of a target: a list (every id a streetlight), else a town and optionally its village and road. */
  const lightsOf = (t: Target): DeviceRecord[] => {
    if (t.deviceIds) {
      const unknown = t.deviceIds.filter((id) => !lightOf(id));
      if (unknown.length > 0) throw invalid(controlMessage("lights_unknown", { ids: unknown.slice(0, 20) }));
      return [...new Set(t.deviceIds)].map((id) => lightOf(id) as DeviceRecord);
    }
    if (!t.town) throw invalid(controlMessage("campaign_target", {}));
    const ds = registry.list({ family: "streetlight", town: t.town, village: t.village }).filter((d) => !t.road || d.attrs.road === t.road);
    if (ds.length === 0) throw invalid(controlMessage("campaign_no_lights", {}));
    return ds;
  };

  app.post(
    "/api/v1/control/commands",
    {
      config: { roles: CONTROL, touches: { kind: "light_target", from: "body" } },
      schema: {
        tags: ["control"],
        operationId: "sendLightCommand",
        summary: "Send a command to one light: a profile, an override, a config or the time (protocol v1.1)",
        description:
          "Checked against the hardware limits first (dim 0–100 %, a profile without a gap, an LVD within the battery's safe range): a command outside them is refused here and never reaches the light. Sent at once when the light is online, else when it reconnects, until it expires (`expiresInH`, default AGRILUME_CONTROL_EXPIRY_H). Technicians and admins of the light's town only.",
        body: withExample(z.object({ deviceId: DeviceIdSchema, command: CommandRequest, expiresInH: ExpiresInH }), {
          deviceId: "YC-LS-0001",
          command: { name: "override", override: { action: "dim", pct: 50, minutes: 120 } },
        }),
        response: { 201: Command, ...errors(403, 404, 422) },
      },
    },
    async (req, reply) => {
      const d = lightOf(req.body.deviceId);
      if (!d) throw notFound("streetlight", req.body.deviceId);
      const [c] = await control.command(
        [d],
        req.body.command.name,
        bodyOf(req.body.command, clock()),
        req.principal?.name ?? "unknown",
        req.body.expiresInH === undefined ? undefined : req.body.expiresInH * 3600_000,
      );
      return reply.status(201).send(commandOut(c as LightCommand));
    },
  );

  app.get(
    "/api/v1/control/commands",
    {
      config: { roles: ALL_ROLES, touches: "list" },
      schema: {
        tags: ["control"],
        operationId: "listLightCommands",
        description: "Over the lights in the caller's towns; `limit` at most 1000.",
        summary: "Commands to lights and their delivery, newest first (by light, campaign or state)",
        querystring: z.object({
          deviceId: z.string().max(64).optional(),
          campaignId: z.string().max(64).optional(),
          state: z.enum(COMMAND_STATES).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: {
          200: withExample(
            z.object({ commands: z.array(Command) }),
            { commands: [COMMAND_EXAMPLE] },
            { description: "The commands, newest first, each with its delivery state and the light's answer" },
          ),
        },
      },
    },
    async (req) => {
      const towns = req.principal ? townsReached(req.principal) : [];
      const cs = await control.list({ ...req.query, ...(towns ? { towns } : {}) });
      return { commands: cs.map(commandOut) };
    },
  );

  app.get(
    "/api/v1/streetlights/:id/control",
    {
      config: { roles: ALL_ROLES, touches: { kind: "streetlight", from: "params" } },
      schema: {
        tags: ["control"],
        operationId: "getLightControl",
        summary: "What a light applied (profile, override, config), what it is judged by, and what waits for it",
        description:
          "`judgedBy`: `applied` when the monitor judges the light by the profile it confirmed, `registered` when it never confirmed one (a v1 light, nothing sent, or it rejected it: `profileStatus` says which). `profileStatus` of the last profile sent: `pending` (on its way), `applied`, `rejected` (the light refused it), `expired` (expired or superseded without an answer: the light runs `appliedProfile`, or its registered one), `not_applied` (cancelled before it was sent), `never_sent`.",
        params: IdParam,
        response: {
          200: withExample(
            z.object({
              deviceId: z.string(),
              registeredProfile: z.unknown(),
              appliedProfile: z.unknown().nullable(),
              judgedBy: z.enum(["applied", "registered"]),
              profileStatus: z.enum(["applied", "rejected", "expired", "not_applied", "pending", "never_sent"]),
              override: z.object({ action: z.string(), pct: z.number().nullable(), until: IsoTime }).nullable(),
              config: z.unknown().nullable(),
              lastRejected: z.object({ commandId: z.string(), name: z.string(), reason: z.string(), at: IsoTime }).nullable(),
              clockOffsetS: z.number().nullable(),
              pending: z.array(Command),
            }),
            {
              deviceId: "YC-LS-0001",
              registeredProfile: { mode: "dusk_to_dawn", dimAfterH: 4, dimPct: 50 },
              appliedProfile: WINTER_DIMMING,
              judgedBy: "applied",
              profileStatus: "applied",
              override: null,
              config: { reportIntervalS: 300 },
              lastRejected: null,
              clockOffsetS: 2,
              pending: [],
            },
            { description: "What the light applied, what it is judged by, and the commands still on their way" },
          ),
          ...errors(404),
        },
      },
    },
    async (req) => {
      const d = lightOf(req.params.id);
      if (!d) throw notFound("streetlight", req.params.id);
      const a = control.applied(d.id);
      const pending = control.pendingOf(d.id);
      const registered = ProfileSchema.safeParse(d.attrs.profile);
      const lastProfile = (await control.list({ deviceId: d.id, name: "profile", limit: 1 }))[0];
      // (a light that never answered did not reject anything: an expired or superseded profile is `expired`)
      const profileStatus: "applied" | "rejected" | "expired" | "not_applied" | "pending" | "never_sent" = pending.some((c) => c.name === "profile")
        ? "pending"
        : lastProfile?.state === "rejected"
          ? "rejected"
          : lastProfile?.state === "expired"
            ? "expired"
            : a.profile
              ? "applied"
              : lastProfile
                ? "not_applied"
                : "never_sent";
      const now = clock();
      return {
        deviceId: d.id,
        registeredProfile: registered.success ? registered.data : DEFAULT_PROFILE,
        appliedProfile: a.profile?.body ?? null,
        judgedBy: control.profileOf(d.id) ? ("applied" as const) : ("registered" as const),
        profileStatus,
        override:
          a.override && a.override.until > now ? { action: a.override.action, pct: a.override.pct, until: iso(a.override.until) as string } : null,
        config: a.config?.body ?? null,
        lastRejected: a.rejected ? { ...a.rejected, at: iso(a.rejected.at) as string } : null,
        clockOffsetS: a.clockOffsetMs === null ? null : Math.round(a.clockOffsetMs / 1000),
        pending: pending.map(commandOut),
      };
    },
  );

  const CampaignRequest = z.object({
    name: z.string().trim().min(1).max(100),
    target: Target,
    command: CampaignCommand,
    expiresInH: ExpiresInH,
  });
  const estimateFor = async (ds: readonly DeviceRecord[], c: z.infer<typeof CampaignCommand>) =>
    c.name === "profile" ? estimateProfile(ds, ProfileSchema.parse(c.profile), currentProfile(control.profileOf), deps.nights, clock()) : null;
  /** A campaign's request, with the example the API shows (a village's winter dimming). */
  const CampaignRequestWithExample = withExample(CampaignRequest, {
    name: "梳妆台村冬季调光",
    target: { town: "来苏镇", village: "梳妆台村" },
    command: {
      name: "profile",
      profile: WINTER_DIMMING,
    },
  });

  app.post(
    "/api/v1/control/campaigns/estimate",
    {
      config: { roles: CONTROL, touches: { kind: "light_target", from: "body", read: true } },
      schema: {
        tags: ["control"],
        operationId: "estimateLightCampaign",
        description:
          "For a profile: tonight's modelled load at each light's position now and at the new profile, the lights' own mean nightly load and PV over the last 7 nights (their nightly records), and the median days a full battery carries a light without sun. Nothing is sent. `estimate` is null for an override or a config.",
        summary: "Before sending: what a campaign's profile saves, and the batteries' days of autonomy at it",
        body: CampaignRequestWithExample,
        response: {
          200: withExample(
            z.object({ lights: z.number().int(), estimate: Estimate.nullable() }),
            {
              lights: 270,
              estimate: ESTIMATE_EXAMPLE,
            },
            { description: "The lights the campaign would reach, and its estimate (null when they have no nightly records yet)" },
          ),
          ...errors(403, 404, 422),
        },
      },
    },
    async (req) => {
      const ds = lightsOf(req.body.target);
      for (const d of ds) control.validate(req.body.command.name, bodyOf(req.body.command, clock()), d);
      return { lights: ds.length, estimate: await estimateFor(ds, req.body.command) };
    },
  );

  const campaignOut = async (id: string) => {
    const s = await control.campaignStatus(id);
    if (!s) throw notFound("campaign", id);
    const k = s.campaign;
    return {
      id: k.id,
      name: k.name,
      town: k.town,
      target: k.target,
      command: k.command,
      state: k.state,
      createdBy: k.createdBy,
      createdAt: iso(k.createdAt) as string,
      expiresAt: iso(k.expiresAt) as string,
      estimate: (k.estimate ?? null) as z.infer<typeof Estimate> | null,
      counts: s.counts,
    };
  };

  app.post(
    "/api/v1/control/campaigns",
    {
      config: { roles: CONTROL, touches: { kind: "light_target", from: "body" } },
      schema: {
        tags: ["control"],
        operationId: "startLightCampaign",
        summary: "Send a profile, override or config to a road, a village, a town or a list of lights, in waves",
        description:
          "Every light's command is checked first (one light outside the limits refuses the whole campaign). Commands go out at most AGRILUME_CONTROL_RATE_PER_S a second (all campaigns together) to lights online; lights offline get theirs when they reconnect, until the campaign expires. A list spanning several towns needs a caller without town limits.",
        body: CampaignRequestWithExample,
        response: { 201: CampaignOut, ...errors(403, 404, 422) },
      },
    },
    async (req, reply) => {
      const ds = lightsOf(req.body.target);
      const towns = new Set(ds.map((d) => d.town));
      const body = bodyOf(req.body.command, clock());
      const k = await control.startCampaign(
        {
          name: req.body.name,
          target: req.body.target,
          town: towns.size === 1 ? ([...towns][0] ?? null) : null,
          command: { name: req.body.command.name, body },
          createdBy: req.principal?.name ?? "unknown",
          estimate: await estimateFor(ds, req.body.command),
        },
        ds,
        req.body.expiresInH === undefined ? undefined : req.body.expiresInH * 3600_000,
      );
      return reply.status(201).send(await campaignOut(k.id));
    },
  );

  app.get(
    "/api/v1/control/campaigns",
    {
      config: { roles: ALL_ROLES, touches: "list" },
      schema: {
        tags: ["control"],
        operationId: "listLightCampaigns",
        description: "A caller limited to towns sees the campaigns of its towns; one across several towns only a caller without limits.",
        summary: "Campaigns, newest first (those in the caller's towns)",
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        response: {
          200: withExample(
            z.object({ campaigns: z.array(CampaignOut) }),
            { campaigns: [CAMPAIGN_EXAMPLE] },
            { description: "The campaigns, newest first, with their live counts" },
          ),
        },
      },
    },
    async (req) => {
      const towns = req.principal ? townsReached(req.principal) : [];
      const ks = (await control.campaigns(req.query.limit)).filter((k) => !towns || (k.town !== null && towns.includes(k.town)));
      return { campaigns: await Promise.all(ks.map((k) => campaignOut(k.id))) };
    },
  );

  app.get(
    "/api/v1/control/campaigns/:id",
    {
      config: { roles: ALL_ROLES, touches: { kind: "campaign", from: "params" } },
      schema: {
        tags: ["control"],
        operationId: "getLightCampaign",
        description:
          "`sent`: commands published at least once; `awaitingAnswer`: sent, not answered (a v1 light never answers); `queued`: waiting for a wave; `waitingOffline`: unanswered and the light offline (sent when it reconnects, until the campaign expires).",
        summary: "A campaign with its live counts: sent, applied, rejected, waiting for lights offline",
        params: IdParam,
        response: { 200: CampaignOut, ...errors(404) },
      },
    },
    async (req) => campaignOut(req.params.id),
  );

  const Outcome = z
    .object({
      nightsFrom: z.string(),
      nightsTo: z.string(),
      lights: z.number().int(),
      nights: z.number().int(),
      loadKWh: z.number().nullable(),
      pvKWh: z.number().nullable(),
      modelledLoadKWh: z.number().nullable(),
      loadVsModelPct: z.number().nullable(),
      loadBeforeKWh: z.number().nullable(),
      savingPct: z.number().nullable(),
      autonomyDays: z.number().nullable(),
      lightsShortOfPv: z.number().int(),
    })
    .describe("What the campaign's lights reported over the nights since they applied it");
  app.get(
    "/api/v1/control/campaigns/:id/outcome",
    {
      config: { roles: ALL_ROLES, touches: { kind: "campaign", from: "params" } },
      schema: {
        tags: ["control"],
        operationId: "getLightCampaignOutcome",
        summary: "A campaign's estimate checked afterwards: what its lights then reported against what was estimated",
        description:
          "For each light that applied the command, its nightly records of the nights that began after it answered (from the campaign's day to yesterday, at most 30 nights): mean nightly load and the day's PV, the model's load at the campaign's profile for the same lights and nights, the same lights' load over the 7 nights before (the saving measured), and the median days of autonomy at the load measured. `estimate` is what was estimated before sending. Figures are null until a light has a night recorded after applying it.",
        params: IdParam,
        response: {
          200: withExample(
            z.object({ campaignId: z.string(), estimate: Estimate.nullable(), outcome: Outcome }),
            {
              campaignId: "K5b2e0c9a41d3",
              estimate: ESTIMATE_EXAMPLE,
              outcome: {
                nightsFrom: "2026-11-30",
                nightsTo: "2026-12-06",
                lights: 262,
                nights: 1834,
                loadKWh: 5.8,
                pvKWh: 29.7,
                modelledLoadKWh: 5.7,
                loadVsModelPct: 1.8,
                loadBeforeKWh: 8.1,
                savingPct: 28.4,
                autonomyDays: 4.1,
                lightsShortOfPv: 9,
              },
            },
            { description: "The estimate made before sending, and what the lights reported since" },
          ),
          ...errors(404),
        },
      },
    },
    async (req) => {
      const k = await control.campaign(req.params.id);
      if (!k) throw notFound("campaign", req.params.id);
      const appliedAt = await control.appliedIn(k.id);
      const ds = [...appliedAt.keys()].flatMap((id) => lightOf(id) ?? []);
      const p = k.command.name === "profile" ? ProfileSchema.safeParse(k.command.body) : null;
      return {
        campaignId: k.id,
        estimate: (k.estimate ?? null) as z.infer<typeof Estimate> | null,
        outcome: await checkOutcome(ds, appliedAt, p?.success ? p.data : null, k.createdAt, deps.nights, clock()),
      };
    },
  );

  for (const [action, state] of [
    ["pause", "paused"],
    ["resume", "running"],
    ["cancel", "cancelled"],
  ] as const) {
    app.post(
      `/api/v1/control/campaigns/:id/${action}`,
      {
        config: { roles: CONTROL, touches: { kind: "campaign", from: "params" } },
        schema: {
          tags: ["control"],
          operationId: `${action}LightCampaign`,
          description: "Technicians and admins of the campaign's town; 409 once it is cancelled or done.",
          summary:
            action === "pause"
              ? "Pause a campaign: no more waves, and lights reconnecting wait"
              : action === "resume"
                ? "Resume a paused campaign"
                : "Cancel a campaign: commands not yet sent are cancelled; those sent are still tracked",
          params: IdParam,
          response: { 200: CampaignOut, ...errors(404, 409) },
        },
      },
      async (req) => {
        const k = await control.campaign(req.params.id);
        if (!k) throw notFound("campaign", req.params.id);
        if (k.state === "cancelled" || k.state === "done") throw conflict(controlMessage("campaign_ended", { id: k.id, state: k.state }));
        await control.setCampaignState(k.id, state);
        return campaignOut(k.id);
      },
    );
  }

  const EnergyQuery = z.object({
    month: z
      .string()
      .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "hint_month")
      .refine((m) => m >= "2000-01" && m <= "2100-12", "hint_month")
      .optional(),
    town: z.string().max(64).optional(),
    village: z.string().max(64).optional(),
    by: z.enum(["light", "village", "town"]).default("light"),
  });
  const EnergyRow = z.object({
    key: z.string(),
    town: z.string().nullable(),
    village: z.string().nullable(),
    lights: z.number().int(),
    nights: z.number().int(),
    burnHours: z.number(),
    kWhConsumed: z.number(),
    kWhGenerated: z.number(),
    availability: z.number().nullable(),
    flatBatteryNights: z.number().int(),
  });
  const energyOf = (q: z.infer<typeof EnergyQuery>, principal: Parameters<typeof townsReached>[0] | null) =>
    energyReport(deps.nights, registry, {
      month: q.month ?? chinaDate(clock()).slice(0, 7),
      town: q.town,
      village: q.village,
      by: q.by,
      towns: principal ? townsReached(principal) : [],
    });
  app.get(
    "/api/v1/streetlights/energy",
    {
      config: { roles: ALL_ROLES, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["streetlights"],
        operationId: "getStreetlightEnergy",
        summary:
          "Energy and availability per light, village or town for a month: burn hours, kWh consumed and generated, nights lost to flat batteries",
        description:
          "From the nightly records of the nights that began in `month` (China dates; default this month): availability is the share of the expected lit minutes that were lit; `flatBatteryNights` the nights classed `energy_limited`. Over the caller's towns.",
        querystring: EnergyQuery,
        response: {
          200: withExample(
            z.object({
              month: z.string(),
              from: z.string(),
              to: z.string(),
              by: z.enum(["light", "village", "town"]),
              total: EnergyRow,
              rows: z.array(EnergyRow),
            }),
            {
              month: "2026-11",
              from: "2026-11-01",
              to: "2026-11-30",
              by: "village",
              total: {
                key: "",
                town: null,
                village: null,
                lights: 270,
                nights: 8010,
                burnHours: 95_300,
                kWhConsumed: 2105.4,
                kWhGenerated: 3980.2,
                availability: 0.962,
                flatBatteryNights: 41,
              },
              rows: [
                {
                  key: "梳妆台村",
                  town: "来苏镇",
                  village: "梳妆台村",
                  lights: 270,
                  nights: 8010,
                  burnHours: 95_300,
                  kWhConsumed: 2105.4,
                  kWhGenerated: 3980.2,
                  availability: 0.962,
                  flatBatteryNights: 41,
                },
              ],
            },
            { description: "A row per light, village or town, and their total" },
          ),
          ...errors(403),
        },
      },
    },
    async (req) => energyOf(req.query, req.principal),
  );
  app.get(
    "/api/v1/streetlights/energy.xlsx",
    {
      config: { roles: ALL_ROLES, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["streetlights"],
        operationId: "getStreetlightEnergyXlsx",
        summary: "The energy and availability report as XLSX, headers in the reader's language",
        description: "As GET /api/v1/streetlights/energy, one sheet: a title row, the headers, a row per light, village or town, and the total.",
        querystring: EnergyQuery,
        response: { 200: xlsxFile("The workbook"), ...errors(403) },
      },
    },
    async (req, reply) => {
      const r = await energyOf(req.query, req.principal);
      const body = await energyXlsx(r, deps.messages.in(req.lang));
      const name = `energy-${req.query.town ?? "district"}-${r.month}.xlsx`;
      return reply
        .header("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
        .type(XLSX_TYPE)
        .send(body);
    },
  );
}
