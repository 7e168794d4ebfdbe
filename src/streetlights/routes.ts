import { z } from "zod";
import { DeviceIdSchema } from "../../devices/index.js";
import { ALL_ROLES, type Api, inScope } from "../http/server.js";
import { addDays } from "../platform/clock.js";
import { errorMessage, invalid, notFound } from "../platform/errors.js";
import { type Catalogue, detailFields } from "../platform/i18n.js";
import type { Registry } from "../registry/registry.js";
import { expectationAt, localDate } from "./expectation.js";
import type { StreetlightMonitor } from "./monitor.js";
import { CONDITIONS } from "./rules.js";
import type { NightStore } from "./store.js";

const Date10 = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "hint_date");

export function streetlightRoutes(
  app: Api,
  deps: { registry: Registry; monitor: StreetlightMonitor; nights: NightStore; clock: () => number; messages: Catalogue },
) {
  const { registry, monitor, nights, messages } = deps;
  const light = (p: Parameters<typeof inScope>[0], id: string) => {
    const d = registry.get(id);
    if (d?.family !== "streetlight" || !inScope(p, d)) throw notFound("streetlight", id);
    return d;
  };

  app.get(
    "/api/v1/streetlights/summary",
    {
      config: { roles: ALL_ROLES },
      schema: {
        tags: ["streetlights"],
        summary:
          "A town, village or the district: counts by condition, online share, share lit last night (or on ?night=YYYY-MM-DD); lights by condition, paged",
        querystring: z.object({
          town: z.string().optional(),
          village: z.string().optional(),
          condition: z.enum(CONDITIONS).optional(),
          night: Date10.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
    },
    async (req) => {
      const s = await monitor.summary(req.query, (d) => inScope(req.principal, d));
      const render = messages.in(req.lang);
      return { ...s, lights: s.lights.map((l) => ({ ...l, ...detailFields(render, l.detail) })) };
    },
  );

  app.get(
    "/api/v1/streetlights/map",
    {
      config: { roles: ALL_ROLES },
      schema: {
        tags: ["streetlights"],
        summary: "Every light in scope with its position and condition, compact for drawing a map: lights = [id, lat, lon, condition, town]",
        querystring: z.object({ town: z.string().optional() }),
      },
    },
    async (req) => ({
      lights: registry
        .list({ family: "streetlight", town: req.query.town })
        .filter((d) => inScope(req.principal, d) && d.lat !== null && d.lon !== null)
        .map((d) => [d.id, d.lat, d.lon, monitor.conditionOf(d).condition, d.town]),
    }),
  );

  app.get(
    "/api/v1/streetlights/:id",
    {
      config: { roles: ALL_ROLES },
      schema: {
        tags: ["streetlights"],
        summary: "A light with its condition and what is expected of it now",
        params: z.object({ id: DeviceIdSchema }),
      },
    },
    async (req) => {
      const d = light(req.principal, req.params.id);
      const condition = monitor.conditionOf(d);
      const i = monitor.expectedOf(d);
      const now = deps.clock();
      const e = expectationAt(now, i.lat, i.lon, i.profile);
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
      };
    },
  );

  app.get(
    "/api/v1/streetlights/:id/nights",
    {
      config: { roles: ALL_ROLES },
      schema: {
        tags: ["streetlights"],
        summary: "Nightly records (the night that begins on each date, China time)",
        params: z.object({ id: DeviceIdSchema }),
        querystring: z.object({ from: Date10.optional(), to: Date10.optional() }),
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
