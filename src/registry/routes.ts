import { z } from "zod";
import { DeviceIdSchema, FamilySchema } from "../../devices/index.js";
import { conflict, invalid, notFound } from "../http/errors.js";
import type { Api } from "../http/server.js";
import { ALL_ROLES, inScope } from "../http/server.js";
import type { Pipeline } from "../ingest/pipeline.js";
import type { Presence } from "../ingest/presence.js";
import type { PresenceStore } from "../ingest/presence-store.js";
import type { RejectStore } from "../ingest/rejects.js";
import type { WorkerPool } from "../platform/workers.js";
import type { TelemetryStore } from "../storage/telemetry-store.js";
import { EVERY_MS } from "../storage/telemetry-store.js";
import { parseDeviceCsvInWorker } from "./jobs.js";
import { DeviceInputSchema, type Registry } from "./registry.js";
import type { DeviceRecord } from "./store.js";

const IdParams = z.object({ id: DeviceIdSchema });
const Created = z.object({ id: z.string(), secret: z.string() });
const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) });

/** Longest range for a raw query, and for each aggregation step (keeps one query's result bounded). */
const MAX_POINTS = 10_000;

export function deviceRoutes(
  app: Api,
  deps: {
    registry: Registry;
    presence: Presence;
    pipeline: Pipeline;
    telemetry: TelemetryStore;
    rejects: RejectStore;
    presenceHistory: PresenceStore;
    /** Closes a device's connection (after disabling or a new secret). */
    disconnect: (id: string) => void;
    clock: () => number;
    /** Where the CSV import is parsed. */
    workers: WorkerPool;
  },
) {
  const { registry, presence, pipeline, telemetry, rejects, presenceHistory } = deps;

  const view = (d: DeviceRecord) => {
    const p = presence.get(d.id);
    return {
      id: d.id,
      family: d.family,
      name: d.name,
      town: d.town,
      village: d.village,
      station: d.station,
      lat: d.lat,
      lon: d.lon,
      ...d.attrs,
      disabled: d.disabled,
      createdAt: new Date(d.createdAt).toISOString(),
      online: p?.online ?? false,
      lastSeen: p?.lastSeen ? new Date(p.lastSeen).toISOString() : null,
      fw: p?.fw ?? null,
    };
  };
  const visible = (req: { principal: Parameters<typeof inScope>[0] }, id: string) => {
    const d = registry.get(id);
    if (!d || !inScope(req.principal, d)) throw notFound(`device ${id}`);
    return d;
  };

  app.post(
    "/api/v1/devices",
    {
      config: { roles: ["admin"] },
      schema: {
        tags: ["devices"],
        summary: "Register a device; the secret is shown only in this answer",
        body: DeviceInputSchema,
        response: { 201: Created, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const result = await registry.register([req.body]);
      if (!result.ok) throw conflict(`device ${req.body.id} is already registered`);
      const [created] = result.created;
      if (!created) throw conflict(`device ${req.body.id} was not registered`);
      return reply.status(201).send(created);
    },
  );

  app.post(
    "/api/v1/devices/import",
    {
      config: { roles: ["admin"] },
      schema: {
        tags: ["devices"],
        summary: "Register many devices from CSV (text/csv): all rows or none, with a report per row",
        body: z.string().min(1),
        response: { 201: z.object({ created: z.number(), devices: z.array(Created) }), 422: ErrorBody },
      },
    },
    async (req, reply) => {
      const { devices, errors } = await parseDeviceCsvInWorker(deps.workers, req.body, (id) => registry.get(id) !== undefined);
      if (errors.length > 0) throw invalid(`${errors.length} row(s) have problems; nothing was imported`, { rows: errors });
      const result = await registry.register(devices);
      if (!result.ok) throw conflict(`already registered: ${result.duplicates.slice(0, 10).join(", ")}`);
      return reply.status(201).send({ created: result.created.length, devices: result.created });
    },
  );

  app.get(
    "/api/v1/devices",
    {
      config: { roles: ALL_ROLES },
      schema: {
        tags: ["devices"],
        summary: "List devices",
        querystring: z.object({
          family: FamilySchema.optional(),
          town: z.string().optional(),
          village: z.string().optional(),
          station: z.string().optional(),
          online: z.enum(["true", "false"]).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      let list = registry.list(q).filter((d) => inScope(req.principal, d));
      if (q.online) list = list.filter((d) => presence.isOnline(d.id) === (q.online === "true"));
      return { total: list.length, devices: list.slice(q.offset, q.offset + q.limit).map(view) };
    },
  );

  app.get(
    "/api/v1/devices/:id",
    {
      config: { roles: ALL_ROLES },
      schema: { tags: ["devices"], summary: "A device with presence, last seen and latest reading", params: IdParams },
    },
    async (req) => {
      const d = visible(req, req.params.id);
      const measurement = `${d.family}_telemetry`;
      const mem = pipeline.latest(d.id)?.get(measurement);
      const latest = mem ?? (await telemetry.latest(d.id, measurement));
      return {
        ...view(d),
        latest: latest ? { ...latest.payload, ts: new Date(latest.ts).toISOString(), receivedAt: new Date(latest.receivedAt).toISOString() } : null,
      };
    },
  );

  app.get(
    "/api/v1/devices/:id/telemetry",
    {
      config: { roles: ALL_ROLES },
      schema: {
        tags: ["devices"],
        summary: "Readings in a time range: raw, or aggregated per minute/hour/day (min, avg, max, last per field)",
        params: IdParams,
        querystring: z.object({
          from: z.coerce.date().optional(),
          to: z.coerce.date().optional(),
          every: z.enum(["minute", "hour", "day"]).optional(),
          kind: z.enum(["telemetry", "batch", "status"]).default("telemetry"),
          fields: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(MAX_POINTS).default(1000),
        }),
      },
    },
    async (req) => {
      const d = visible(req, req.params.id);
      const to = req.query.to?.getTime() ?? deps.clock() + 1;
      const from = req.query.from?.getTime() ?? to - 86_400_000;
      if (!(from < to)) throw invalid("from must be before to");
      const measurement = `${d.family}_${req.query.kind}`;
      if (req.query.every) {
        const buckets = (to - from) / EVERY_MS[req.query.every];
        if (buckets > MAX_POINTS)
          throw invalid(
            `${Math.ceil(buckets)} ${req.query.every} buckets is too many; at most ${MAX_POINTS}: use a coarser every or a shorter range`,
          );
        const fields = req.query.fields
          ?.split(",")
          .map((f) => f.trim())
          .filter(Boolean);
        const rows = await telemetry.aggregate({ deviceId: d.id, measurement, from, to, every: req.query.every, fields });
        return {
          deviceId: d.id,
          measurement,
          every: req.query.every,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          buckets: rows.map((r) => ({ ...r, ts: new Date(r.ts).toISOString() })),
        };
      }
      const rows = await telemetry.raw({ deviceId: d.id, measurement, from, to, limit: req.query.limit });
      return {
        deviceId: d.id,
        measurement,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        readings: rows.map((r) => ({ ...r.payload, ts: new Date(r.ts).toISOString(), receivedAt: new Date(r.receivedAt).toISOString() })),
      };
    },
  );

  app.get(
    "/api/v1/devices/:id/rejects",
    {
      config: { roles: ["admin", "operator", "technician"] },
      schema: {
        tags: ["devices"],
        summary: "Rejected messages: counts by reason and the most recent, with their raw payload",
        params: IdParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
      },
    },
    async (req) => {
      const d = visible(req, req.params.id);
      const r = await rejects.rejectsFor(d.id, req.query.limit);
      return { deviceId: d.id, counts: r.counts, recent: r.recent.map((x) => ({ ...x, receivedAt: new Date(x.receivedAt).toISOString() })) };
    },
  );

  app.get(
    "/api/v1/rejects/unregistered",
    {
      config: { roles: ["admin"] },
      schema: {
        tags: ["devices"],
        summary: "Rejected messages that named no registered device (external broker mode)",
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
      },
    },
    async (req) => {
      const r = await rejects.rejectsFor(null, req.query.limit);
      return { counts: r.counts, recent: r.recent.map((x) => ({ ...x, receivedAt: new Date(x.receivedAt).toISOString() })) };
    },
  );

  app.get(
    "/api/v1/devices/:id/presence",
    {
      config: { roles: ALL_ROLES },
      schema: { tags: ["devices"], summary: "Online/offline transitions, newest first", params: IdParams },
    },
    async (req) => {
      const d = visible(req, req.params.id);
      const events = await presenceHistory.presenceEvents(d.id, 100);
      return { deviceId: d.id, events: events.map((e) => ({ online: e.online, cause: e.cause, at: new Date(e.at).toISOString() })) };
    },
  );

  app.post(
    "/api/v1/devices/:id/secret",
    {
      config: { roles: ["admin"] },
      schema: {
        tags: ["devices"],
        summary: "Issue a new secret (the old one stops working; the device is disconnected)",
        params: IdParams,
        response: { 200: Created },
      },
    },
    async (req) => {
      const secret = await registry.rotateSecret(req.params.id);
      if (secret === undefined) throw notFound(`device ${req.params.id}`);
      deps.disconnect(req.params.id);
      return { id: req.params.id, secret };
    },
  );

  for (const [action, disabled] of [
    ["disable", true],
    ["enable", false],
  ] as const) {
    app.post(
      `/api/v1/devices/:id/${action}`,
      {
        config: { roles: ["admin"] },
        schema: {
          tags: ["devices"],
          summary: disabled ? "Disable a device: it is disconnected and refused" : "Enable a disabled device",
          params: IdParams,
        },
      },
      async (req) => {
        const d = await registry.setDisabled(req.params.id, disabled);
        if (!d) throw notFound(`device ${req.params.id}`);
        if (disabled) deps.disconnect(d.id);
        return view(d);
      },
    );
  }
}
