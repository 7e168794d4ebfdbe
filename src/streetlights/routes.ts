import { z } from "zod";
import { DeviceIdSchema } from "../../devices/index.js";
import { type Access, sees } from "../access/scope.js";
import { DateOnly, errors, IsoTime, MessageCode, MessageParams, withExample } from "../http/schemas.js";
import { ALL_ROLES, type Api } from "../http/server.js";
import { addDays } from "../platform/clock.js";
import { errorMessage, invalid, notFound } from "../platform/errors.js";
import { type Catalogue, detailFields } from "../platform/i18n.js";
import { type Registry, StreetlightInputSchema } from "../registry/registry.js";
import { expectationAt, localDate } from "./expectation.js";
import type { StreetlightMonitor } from "./monitor.js";
import { NIGHT_CLASSES } from "./nightly.js";
import { CONDITIONS } from "./rules.js";
import type { NightStore } from "./store.js";

const Date10 = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "hint_date");

const ConditionSchema = z.enum(CONDITIONS);
/** A light's condition now: since when (null: since the service started watching it), and why in the reader's language. */
const LightCondition = {
  condition: ConditionSchema,
  since: IsoTime.nullable(),
  detail: z.string(),
  detailCode: MessageCode.nullable(),
  detailParams: MessageParams.nullable(),
};
const Place = { id: z.string(), town: z.string().nullable(), village: z.string().nullable(), lat: z.number().nullable(), lon: z.number().nullable() };
const Summary = withExample(
  z.object({
    total: z.number().int(),
    online: z.number().int(),
    onlineShare: z.number().nullable(),
    counts: z.partialRecord(ConditionSchema, z.number().int()),
    lastNight: z.object({ date: DateOnly.nullable(), records: z.number().int(), lit: z.number().int(), litShare: z.number().nullable() }),
    listed: z.number().int(),
    lights: z.array(z.object({ ...Place, ...LightCondition })),
  }),
  {
    total: 1200,
    online: 1187,
    onlineShare: 0.989,
    counts: { lit: 1150, dark: 21, energy_limited: 16, offline: 13 },
    lastNight: { date: "2025-11-27", records: 1195, lit: 1158, litShare: 0.969 },
    listed: 21,
    lights: [
      {
        id: "YC-LS-0001",
        town: "来苏镇",
        village: "梳妆台村",
        lat: 29.3512,
        lon: 105.9113,
        condition: "dark",
        since: "2025-11-28T10:42:00.000Z",
        detail: "功率 0 W，应为 30 W",
        detailCode: "lamp_power_low",
        detailParams: { w: 0, expectedW: 30 },
      },
    ],
  },
  { description: "Counts by condition, online share and last night's lit share for the place asked, and the lights of the condition asked, paged" },
);
/** [id, lat, lon, condition, town]: compact, for drawing thousands of lights. */
const MapLight = z.tuple([z.string(), z.number(), z.number(), ConditionSchema, z.string().nullable()]);
const LightMap = withExample(
  z.object({
    lights: z.array(MapLight),
    baseMap: z
      .object({
        url: z.string().describe("Tile URL with {z}/{x}/{y} (Web Mercator) and {s} for a subdomain"),
        subdomains: z.string().describe("The characters {s} takes in turn"),
        attribution: z.string(),
      })
      .nullable()
      .describe("The optional base map (AGRILUME_MAP_TILE_URL); null: the lights on a plain canvas (works offline)"),
  }),
  {
    lights: [
      ["YC-LS-0001", 29.3512, 105.9113, "lit", "来苏镇"],
      ["YC-LS-0002", 29.3518, 105.9121, "dark", "来苏镇"],
    ],
    baseMap: null,
  },
  { description: "Every light in scope that has a position: [id, lat, lon, condition, town]" },
);
const streetlightAttrs = StreetlightInputSchema.omit({ id: true, family: true, name: true, town: true, village: true, lat: true, lon: true }).shape;
const Light = withExample(
  z.object({
    ...Place,
    ...streetlightAttrs,
    ...LightCondition,
    expected: z.object({
      state: z.enum(["on", "off", "band"]),
      pct: z.number(),
      w: z.number().nullable(),
      night: z.object({ date: DateOnly, dusk: IsoTime, dawn: IsoTime, litUntil: IsoTime }).nullable(),
    }),
  }),
  {
    id: "YC-LS-0001",
    town: "来苏镇",
    village: "梳妆台村",
    lat: 29.3512,
    lon: 105.9113,
    projectId: "YC-2024-017",
    lampW: 30,
    condition: "lit",
    since: "2025-11-28T09:58:00.000Z",
    detail: "",
    detailCode: null,
    detailParams: null,
    expected: {
      state: "on",
      pct: 100,
      w: 30,
      night: { date: "2025-11-28", dusk: "2025-11-28T09:52:00.000Z", dawn: "2025-11-28T23:21:00.000Z", litUntil: "2025-11-28T23:21:00.000Z" },
    },
  },
  {
    id: "Streetlight",
    description:
      "A light's registration, its condition now, and what it should be doing now (`band`: within 30 minutes of dusk or dawn, either is fine)",
  },
);
const EXAMPLE_NIGHT = {
  deviceId: "YC-LS-0001",
  date: "2025-11-27",
  dusk: "2025-11-27T09:52:00.000Z",
  dawn: "2025-11-27T23:20:00.000Z",
  expectedMin: 808,
  litMin: 802,
  coveredMin: 808,
  loadWh: 398,
  pvWhDayBefore: 512,
  switchOns: 1,
  classification: "lit" as const,
  flags: [],
  lastTs: "2025-11-27T23:50:00.000Z",
  gps: { lat: 29.3512, lon: 105.9113, accM: 3 },
};
const Night = withExample(
  z.object({
    deviceId: z.string(),
    date: DateOnly,
    dusk: IsoTime,
    dawn: IsoTime,
    expectedMin: z.number(),
    litMin: z.number(),
    coveredMin: z.number(),
    loadWh: z.number(),
    pvWhDayBefore: z.number().nullable(),
    switchOns: z.number().int(),
    classification: z.enum(NIGHT_CLASSES),
    flags: z.array(z.string()),
    // (records written before verification needed them lack these two)
    lastTs: IsoTime.nullable().optional(),
    gps: z.object({ lat: z.number(), lon: z.number(), accM: z.number().nullable() }).nullable().optional(),
  }),
  EXAMPLE_NIGHT,
  { id: "Night", description: "One light's night: expected and lit minutes, data coverage, energy, and the night's classification" },
);

export function streetlightRoutes(
  app: Api,
  deps: {
    registry: Registry;
    monitor: StreetlightMonitor;
    nights: NightStore;
    clock: () => number;
    messages: Catalogue;
    access: Access;
    /** AGRILUME_MAP_TILE_URL and its subdomains and attribution (null: no base map). */
    mapTiles?: { url: string; subdomains: string; attribution: string } | null;
  },
) {
  const { registry, monitor, nights, messages } = deps;
  deps.access.define("streetlight", (id) => {
    const d = registry.get(String(id));
    return d?.family === "streetlight" ? d : null;
  });
  /** A light the access owner has let the caller reach (`touches: { kind: "streetlight" }`). */
  const light = (_p: unknown, id: string) => {
    const d = registry.get(id);
    if (d?.family !== "streetlight") throw notFound("streetlight", id);
    return d;
  };

  app.get(
    "/api/v1/streetlights/summary",
    {
      config: { roles: ALL_ROLES, touches: "list" },
      schema: {
        tags: ["streetlights"],
        operationId: "getStreetlightSummary",
        summary:
          "A town, village or the district: counts by condition, online share, share lit last night (or on ?night=YYYY-MM-DD); lights by condition, paged",
        description:
          "Over the lights in the key's towns. Without `condition` every light is listed (paged by `limit` and `offset`); `detail` is in the reader's language.",
        querystring: z.object({
          town: z.string().optional(),
          village: z.string().optional(),
          condition: z.enum(CONDITIONS).optional(),
          night: Date10.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: Summary },
      },
    },
    async (req) => {
      const s = await monitor.summary(req.query, (d) => sees(req.principal, d));
      const render = messages.in(req.lang);
      return { ...s, lights: s.lights.map((l) => ({ ...l, ...detailFields(render, l.detail) })) };
    },
  );

  app.get(
    "/api/v1/streetlights/map",
    {
      config: { roles: ALL_ROLES, touches: "list" },
      schema: {
        tags: ["streetlights"],
        operationId: "getStreetlightMap",
        summary: "Every light in scope with its position and condition, compact for drawing a map: lights = [id, lat, lon, condition, town]",
        description: "Lights without a registered position are left out. One array per light keeps a district of tens of thousands of lights small.",
        querystring: z.object({ town: z.string().optional() }),
        response: { 200: LightMap },
      },
    },
    async (req) => ({
      lights: registry
        .list({ family: "streetlight", town: req.query.town })
        .filter((d) => sees(req.principal, d) && d.lat !== null && d.lon !== null)
        .map((d): z.output<typeof MapLight> => [d.id, d.lat as number, d.lon as number, monitor.conditionOf(d).condition, d.town]),
      baseMap: deps.mapTiles ?? null,
    }),
  );

  app.get(
    "/api/v1/streetlights/:id",
    {
      config: { roles: ALL_ROLES, touches: { kind: "streetlight", from: "params" } },
      schema: {
        tags: ["streetlights"],
        operationId: "getStreetlight",
        summary: "A light with its condition and what is expected of it now",
        description:
          "What is expected follows the light's lighting profile and the sun at its own position (China time). 404 for an unknown id, a device that is not a streetlight, or a light outside the key's towns.",
        params: z.object({ id: DeviceIdSchema }),
        response: { 200: Light, ...errors(404) },
      },
    },
    async (req) => {
      const d = light(req.principal, req.params.id);
      const condition = monitor.conditionOf(d);
      const i = monitor.expectedOf(d);
      const now = deps.clock();
      const e = expectationAt(now, i.lat, i.lon, i.profile);
      // (attrs are the registration's own fields, stored as JSON: the response schema checks them as it writes the answer)
      return {
        id: d.id,
        town: d.town,
        village: d.village,
        lat: d.lat,
        lon: d.lon,
        ...d.attrs,
        ...condition,
        ...detailFields(messages.in(req.lang), condition.detail),
        expected: {
          state: e.state,
          pct: e.state === "off" ? 0 : e.pct,
          w: i.lampW !== null && e.state !== "off" ? (i.lampW * e.pct) / 100 : e.state === "off" ? 0 : null,
          night: e.night
            ? {
                date: e.night.date,
                dusk: new Date(e.night.dusk).toISOString(),
                dawn: new Date(e.night.dawn).toISOString(),
                litUntil: new Date(e.night.end).toISOString(),
              }
            : null,
        },
      } as z.output<typeof Light>;
    },
  );

  app.get(
    "/api/v1/streetlights/:id/nights",
    {
      config: { roles: ALL_ROLES, touches: { kind: "streetlight", from: "params" } },
      schema: {
        tags: ["streetlights"],
        operationId: "listStreetlightNights",
        summary: "Nightly records (the night that begins on each date, China time)",
        description:
          "The 30 nights up to yesterday by default. A night's record is made after dawn from the stored readings; `classification` is lit, partial, dark, energy_limited, cycling or offline. 422 when `from` is after `to`.",
        params: z.object({ id: DeviceIdSchema }),
        querystring: z.object({ from: Date10.optional(), to: Date10.optional() }),
        response: {
          200: withExample(
            z.object({ deviceId: z.string(), from: DateOnly, to: DateOnly, nights: z.array(Night) }),
            { deviceId: "YC-LS-0001", from: "2025-10-28", to: "2025-11-27", nights: [EXAMPLE_NIGHT] },
            { description: "The light's nights in the range, oldest first" },
          ),
          ...errors(404, 422),
        },
      },
    },
    async (req) => {
      const d = light(req.principal, req.params.id);
      const to = req.query.to ?? localDate(deps.clock());
      const from = req.query.from ?? addDays(to, -30);
      if (from > to) throw invalid(errorMessage("range_order", { from, to }));
      return { deviceId: d.id, from, to, nights: await nights.of(d.id, from, to) };
    },
  );
}
