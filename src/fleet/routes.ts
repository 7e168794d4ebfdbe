import { z } from "zod";
import { BlenderTelemetrySchema, DeviceIdSchema, FamilySchema, REJECT_REASONS, StreetlightTelemetrySchema } from "../../devices/index.js";
import { type Access, refuseRows, sees } from "../access/scope.js";
import { sendLargeJson } from "../http/compress.js";
import { errors, IsoTime, MessageCode, MessageParams, QueryTime, withExample } from "../http/schemas.js";
import type { Api } from "../http/server.js";
import { ALL_ROLES } from "../http/server.js";
import type { Pipeline } from "../ingest/pipeline.js";
import type { Presence } from "../ingest/presence.js";
import type { PresenceStore } from "../ingest/presence-store.js";
import type { RejectStore } from "../ingest/rejects.js";
import { chinaMidnight } from "../platform/clock.js";
import type { ImportLimits } from "../platform/config.js";
import { alreadyExists, conflict, errorMessage, invalid, notFound, rowsRejected } from "../platform/errors.js";
import { type Catalogue, detailFields, type Lang } from "../platform/i18n.js";
import type { WorkerPool } from "../platform/workers.js";
import { parseDeviceCsvInWorker } from "../registry/jobs.js";
import { registryMessage } from "../registry/messages.js";
import { BlenderInputSchema, DeviceInputSchema, type Registry, StreetlightInputSchema } from "../registry/registry.js";
import type { DeviceRecord } from "../registry/store.js";
import type { AggQuery, TelemetryStore } from "../storage/telemetry-store.js";
import { DAILY_FIELDS, EVERY_MS, HOURLY_FIELDS, STREETLIGHT_FIELDS } from "../storage/telemetry-store.js";

const IdParams = z.object({ id: DeviceIdSchema });
const Created = withExample(
  z.object({ id: z.string(), secret: z.string() }),
  { id: "YC-LS-0001", secret: "s3cr3t-9fKq2LmX7vB4nR8w" },
  {
    id: "DeviceCredentials",
    description: "The device's MQTT credentials (username = client id = id, password = secret); the secret is shown only here",
  },
);

const EXAMPLE_LIGHT = {
  id: "YC-LS-0001",
  family: "streetlight" as const,
  name: null,
  town: "来苏镇",
  village: "梳妆台村",
  station: null,
  lat: 29.3512,
  lon: 105.9113,
  projectId: "YC-2024-017",
  lampW: 30,
  disabled: false,
  createdAt: "2025-03-01T02:00:00.000Z",
  online: true,
  lastSeen: "2025-11-28T13:05:00.000Z",
  fw: "2.4.1",
};
const EXAMPLE_READING = {
  ts: "2025-11-28T13:05:00.000Z",
  receivedAt: "2025-11-28T13:05:00.412Z",
  pv: { v: 0.4, a: 0, w: 0 },
  battery: { v: 12.9, soc: 78, tempC: 14.5 },
  load: { on: true, w: 29.6, a: 2.31, dimPct: 100 },
  energyToday: { pvWh: 410, loadWh: 35 },
  faults: [],
  gps: { lat: 29.3512, lon: 105.9113, accM: 3 },
};
/** What every device shows, whatever its family; then the registration's own fields (registry.ts). */
const DeviceCommon = {
  id: z.string(),
  name: z.string().nullable(),
  town: z.string().nullable(),
  village: z.string().nullable(),
  station: z.string().nullable(),
  lat: z.number().nullable(),
  lon: z.number().nullable(),
};
const DeviceState = {
  disabled: z.boolean(),
  createdAt: IsoTime,
  online: z.boolean(),
  lastSeen: IsoTime.nullable(),
  fw: z.string().nullable(),
};
const streetlightAttrs = StreetlightInputSchema.omit({ id: true, family: true, name: true, town: true, village: true, lat: true, lon: true }).shape;
const StreetlightDevice = z.object({ ...DeviceCommon, family: z.literal("streetlight"), ...streetlightAttrs, ...DeviceState });
const BlenderDevice = z.object({
  ...DeviceCommon,
  family: z.literal("blender"),
  hopperMaterials: BlenderInputSchema.shape.hopperMaterials,
  ...DeviceState,
});
const DeviceSchema = withExample(z.discriminatedUnion("family", [StreetlightDevice, BlenderDevice]), EXAMPLE_LIGHT, {
  id: "Device",
  description: "A registered device with its presence: a streetlight or a blending machine",
});
/** A reading as stored: the device's message (devices/), its time and when the service received it as ISO. */
const StreetlightReading = StreetlightTelemetrySchema.extend({ ts: IsoTime, receivedAt: IsoTime }).meta({ id: "StreetlightReading" });
const BlenderReading = BlenderTelemetrySchema.extend({ ts: IsoTime, receivedAt: IsoTime }).meta({ id: "BlenderReading" });
const DeviceDetail = withExample(
  z.discriminatedUnion("family", [
    StreetlightDevice.extend({ latest: StreetlightReading.nullable() }),
    BlenderDevice.extend({ latest: BlenderReading.nullable() }),
  ]),
  { ...EXAMPLE_LIGHT, latest: EXAMPLE_READING },
  { id: "DeviceDetail", description: "A device with its latest reading (null before the first)" },
);
const DeviceList = withExample(
  z.object({ total: z.number().int(), devices: z.array(DeviceSchema) }),
  { total: 1, devices: [EXAMPLE_LIGHT] },
  { description: "How many devices match, and the page asked for" },
);
/** Any kind of message, as the device sent it (devices/: telemetry, batch or status), with ISO times. */
const AnyReading = z.looseObject({ ts: IsoTime, receivedAt: IsoTime });
const Bucket = z.object({
  ts: IsoTime,
  field: z.string(),
  min: z.number(),
  avg: z.number(),
  max: z.number(),
  last: z.number(),
  count: z.number().int(),
});
const Telemetry = withExample(
  z.union([
    z.object({ deviceId: z.string(), measurement: z.string(), from: IsoTime, to: IsoTime, readings: z.array(AnyReading) }),
    z.object({
      deviceId: z.string(),
      measurement: z.string(),
      every: z.enum(["minute", "hour", "day"]),
      from: IsoTime,
      to: IsoTime,
      buckets: z.array(Bucket),
    }),
  ]),
  {
    deviceId: "YC-LS-0001",
    measurement: "streetlight_telemetry",
    every: "hour",
    from: "2025-11-28T10:00:00.000Z",
    to: "2025-11-28T12:00:00.000Z",
    buckets: [
      { ts: "2025-11-28T10:00:00.000Z", field: "load.w", min: 29.1, avg: 29.6, max: 30.2, last: 29.5, count: 12 },
      { ts: "2025-11-28T11:00:00.000Z", field: "load.w", min: 29.0, avg: 29.4, max: 30.0, last: 29.2, count: 12 },
    ],
  },
  { description: "Raw readings (`readings`), or with `every` one bucket per field and step (`buckets`)" },
);
/** A field's statistics in each step of a town's answer, aligned with its `buckets`: null (count 0) where the light sent none. */
const Series = z.object({
  min: z.array(z.number().nullable()),
  avg: z.array(z.number().nullable()),
  max: z.array(z.number().nullable()),
  last: z.array(z.number().nullable()),
  count: z.array(z.number().int()),
});
export const TownAggregates = withExample(
  z.object({
    town: z.string(),
    village: z.string().nullable(),
    measurement: z.string(),
    every: z.enum(["hour", "day"]),
    from: IsoTime,
    to: IsoTime,
    fields: z.array(z.string()).describe("The fields answered: those asked for, or by default those the rollups keep for this step"),
    buckets: z.array(IsoTime).describe("Each step's start, oldest first; every light's arrays are aligned with it"),
    lights: z.array(
      z.object({
        deviceId: z.string(),
        fields: z.record(z.string(), Series).describe("Each field the light sent in the range (none: the light sent nothing)"),
      }),
    ),
  }),
  {
    town: "来苏镇",
    village: null,
    measurement: "streetlight_telemetry",
    every: "day",
    from: "2025-11-27T16:00:00.000Z",
    to: "2025-11-30T16:00:00.000Z",
    fields: ["battery.soc", "load.w"],
    buckets: ["2025-11-27T16:00:00.000Z", "2025-11-28T16:00:00.000Z", "2025-11-29T16:00:00.000Z"],
    lights: [
      {
        deviceId: "YC-LS-0001",
        fields: {
          "battery.soc": { min: [41, 38, null], avg: [68.2, 66.9, null], max: [97, 95, null], last: [88, 86, null], count: [288, 288, 0] },
          "load.w": { min: [0, 0, null], avg: [11.9, 12.1, null], max: [30.2, 30.4, null], last: [0, 0, null], count: [288, 288, 0] },
        },
      },
      { deviceId: "YC-LS-0002", fields: {} },
    ],
  },
  { id: "TownAggregates", description: "Each light of the town (or village), by id, with each field's statistics per step, aligned with `buckets`" },
);
const Reject = z.object({
  seq: z.number().int(),
  deviceId: z.string().nullable(),
  clientId: z.string().nullable(),
  topic: z.string(),
  reason: z
    .string()
    .describe(
      `Why: ${REJECT_REASONS.join(", ")}; a batch event: not_machines_order, batch_over_capacity; a light's answer: ack_unknown_command, ack_other_light, ack_cmd_mismatch (docs/PROTOCOL.md)`,
    ),
  detail: z.string().describe("Why, in the reader's language"),
  detailCode: MessageCode.nullable(),
  detailParams: MessageParams.nullable(),
  payload: z.string(),
  payloadEncoding: z.enum(["utf8", "base64"]),
  payloadBytes: z.number().int(),
  receivedAt: IsoTime,
});
const EXAMPLE_REJECT = {
  seq: 48213,
  deviceId: "YC-LS-0001",
  clientId: "YC-LS-0001",
  topic: "streetlight/YC-LS-0001/telemetry",
  reason: "invalid",
  detail: "battery.soc: too big: at most 100",
  detailCode: "payload_invalid",
  detailParams: { problems: [{ code: "issue_too_big", params: { path: "battery.soc", maximum: 100 } }] },
  payload: '{"ts":1764335100000,"battery":{"v":12.9,"soc":180,"tempC":14.5}}',
  payloadEncoding: "utf8" as const,
  payloadBytes: 64,
  receivedAt: "2025-11-28T13:05:00.412Z",
};
const RejectCounts = z.record(z.string(), z.number().int());

type Series = z.infer<typeof Series>;
/**
 * The lights' aggregates as a series per field, aligned with the `steps` buckets from `first`, `width` apart: each row
 * the store reads goes straight into its place (a town's month is ~200,000 rows; no object is made for one).
 */
async function alignedTown(
  telemetry: TelemetryStore,
  q: Omit<AggQuery, "deviceId"> & { deviceIds: string[] },
  first: number,
  width: number,
  steps: number,
): Promise<Map<string, Record<string, Series>>> {
  const out = new Map<string, Record<string, Series>>();
  const nulls = () => new Array<number | null>(steps).fill(null);
  await telemetry.eachAggregate(q, (deviceId, ts, field, min, avg, max, last, count) => {
    const i = Math.round((ts - first) / width);
    let fields = out.get(deviceId);
    if (!fields) {
      fields = {};
      out.set(deviceId, fields);
    }
    let s = fields[field];
    if (!s) {
      s = { min: nulls(), avg: nulls(), max: nulls(), last: nulls(), count: new Array<number>(steps).fill(0) };
      fields[field] = s;
    }
    s.min[i] = min;
    s.avg[i] = avg;
    s.max[i] = max;
    s.last[i] = last;
    s.count[i] = count;
  });
  return out;
}

/** Longest range for a raw query, and for each aggregation step (keeps one query's result bounded). */
const MAX_POINTS = 10_000;
/** A town's aggregates: at most this many lights × steps (a town of 787 lights: a month of days; a day of hours). */
const MAX_LIGHT_BUCKETS = 100_000;

export function deviceRoutes(
  app: Api,
  deps: {
    registry: Registry;
    presence: Presence;
    pipeline: Pipeline;
    telemetry: TelemetryStore;
    /** What the CSV import may hold (AGRILUME_IMPORT_MAX_ROWS) and its body limit. */
    importLimits: ImportLimits;
    rejects: RejectStore;
    presenceHistory: PresenceStore;
    /** Closes a device's connection (after disabling or a new secret). */
    disconnect: (id: string) => void;
    clock: () => number;
    /** Renders why each reject was rejected, in the reader's language. */
    messages: Catalogue;
    /** Where the CSV import is parsed. */
    workers: WorkerPool;
    access: Access;
  },
) {
  const { registry, presence, pipeline, telemetry, rejects, presenceHistory } = deps;

  // (attrs are the registration's own fields, stored as JSON: the response schema checks them as it writes the answer)
  const view = (d: DeviceRecord): z.output<typeof DeviceSchema> => {
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
    } as z.output<typeof DeviceSchema>;
  };
  /** A reject as a reader sees it: why, in the reader's language, with the code and parameters beside. */
  const rejectView = (lang: Lang) => {
    const render = deps.messages.in(lang);
    return (x: Awaited<ReturnType<RejectStore["rejectsFor"]>>["recent"][number]) => ({
      ...x,
      ...detailFields(render, x.detail),
      receivedAt: new Date(x.receivedAt).toISOString(),
    });
  };
  deps.access.define("device", (id) => registry.get(String(id)) ?? null);
  /** A device the access owner has let the caller reach (`touches: { kind: "device" }`). */
  const visible = (_req: unknown, id: string) => {
    const d = registry.get(id);
    if (!d) throw notFound("device", id);
    return d;
  };

  app.post(
    "/api/v1/devices",
    {
      config: { roles: ["admin"], touches: { kind: "place", from: "body" } },
      schema: {
        tags: ["devices"],
        operationId: "registerDevice",
        summary: "Register a device; the secret is shown only in this answer",
        description:
          "A streetlight (town, position, lamp and project details, lighting profile) or a blending machine (its station and hopper materials). The answer holds the device's MQTT password, which the service keeps only as a hash; 409 when the id is taken.",
        body: withExample(DeviceInputSchema, {
          id: "YC-LS-0001",
          family: "streetlight",
          town: "来苏镇",
          village: "梳妆台村",
          lat: 29.3512,
          lon: 105.9113,
          projectId: "YC-2024-017",
          lampW: 30,
        }),
        response: { 201: Created, ...errors(409) },
      },
    },
    async (req, reply) => {
      const result = await registry.register([req.body]);
      const [created] = result.ok ? result.created : [];
      if (!created) throw alreadyExists("device", req.body.id);
      return reply.status(201).send(created);
    },
  );

  app.post(
    "/api/v1/devices/import",
    {
      config: { roles: ["admin"], touches: "rows" },
      schema: {
        tags: ["devices"],
        operationId: "importDevices",
        summary: "Register many devices from CSV (text/csv): all rows or none, with a report per row",
        description:
          "One device per row, with a header row naming the registration's fields (id, family, town, village, lat, lon, lampW, …) or their Chinese headings (设备编号, 类型, 镇街, 村, 纬度, 经度, 灯具功率, …; family may be 路灯 or 配肥机; a unit in brackets after a heading is ignored, other columns are ignored). Nothing is registered unless every row is good: 422 lists each bad row in `details.rows`, an id already registered among them; 409 when another request registered one of the ids meanwhile. The answer holds every new device's secret, shown only here.",
        consumes: ["text/csv"],
        body: z.unknown().meta({
          type: "string",
          format: "binary",
          description: "The CSV file: UTF-8 (with or without BOM), or GBK/GB18030 as Excel on Chinese Windows saves it",
          examples: ["id,family,town,village,lat,lon,lampW\nYC-LS-0001,streetlight,来苏镇,梳妆台村,29.3512,105.9113,30\n"],
        }),
        response: {
          201: withExample(
            z.object({ created: z.number(), devices: z.array(Created) }),
            { created: 1, devices: [{ id: "YC-LS-0001", secret: "s3cr3t-9fKq2LmX7vB4nR8w" }] },
            { description: "How many devices were registered, and their credentials" },
          ),
          ...errors(409, 422),
        },
      },
      bodyLimit: deps.importLimits.bodyLimitBytes,
    },
    async (req, reply) => {
      if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw invalid(registryMessage("devices_csv_body", {}));
      const { devices, errors } = await parseDeviceCsvInWorker(deps.workers, req.body, (id) => registry.get(id) !== undefined, deps.importLimits);
      if (errors.length > 0) throw rowsRejected(errors);
      refuseRows(req.principal, devices, (d) =>
        d.family === "streetlight" ? { town: d.town, station: null } : { town: d.town ?? null, station: d.station },
      );
      const result = await registry.register(devices);
      if (!result.ok) throw conflict(registryMessage("devices_registered", { ids: result.duplicates.slice(0, 10) }));
      return reply.status(201).send({ created: result.created.length, devices: result.created });
    },
  );

  app.get(
    "/api/v1/devices",
    {
      config: { roles: ALL_ROLES, touches: "list" },
      schema: {
        tags: ["devices"],
        operationId: "listDevices",
        summary: "List devices",
        description:
          "Devices in the key's towns or stations, filtered by family, place and presence; `total` counts all that match, `devices` is the page.",
        querystring: z.object({
          family: FamilySchema.optional(),
          town: z.string().optional(),
          village: z.string().optional(),
          station: z.string().optional(),
          online: z.enum(["true", "false"]).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: DeviceList },
      },
    },
    async (req) => {
      const q = req.query;
      let list = registry.list(q).filter((d) => sees(req.principal, d));
      if (q.online) list = list.filter((d) => presence.isOnline(d.id) === (q.online === "true"));
      return { total: list.length, devices: list.slice(q.offset, q.offset + q.limit).map(view) };
    },
  );

  app.get(
    "/api/v1/devices/:id",
    {
      config: { roles: ALL_ROLES, touches: { kind: "device", from: "params" } },
      schema: {
        tags: ["devices"],
        operationId: "getDevice",
        summary: "A device with presence, last seen and latest reading",
        description: "404 for a device that is not registered or is outside the key's towns or stations.",
        params: IdParams,
        response: { 200: DeviceDetail, ...errors(404) },
      },
    },
    async (req) => {
      const d = visible(req, req.params.id);
      const measurement = `${d.family}_telemetry`;
      const mem = pipeline.latest(d.id)?.get(measurement);
      const latest = mem ?? (await telemetry.latest(d.id, measurement));
      return {
        ...view(d),
        latest: latest ? { ...latest.payload, ts: new Date(latest.ts).toISOString(), receivedAt: new Date(latest.receivedAt).toISOString() } : null,
      } as z.output<typeof DeviceDetail>;
    },
  );

  app.get(
    "/api/v1/devices/:id/telemetry",
    {
      config: { roles: ALL_ROLES, touches: { kind: "device", from: "params" } },
      schema: {
        tags: ["devices"],
        operationId: "getDeviceTelemetry",
        summary: "Readings in a time range: raw, or aggregated per minute/hour/day (min, avg, max, last per field)",
        description:
          "The last 24 hours by default. `kind` picks the message kind (telemetry, batch or status); `fields` limits an aggregation to some fields (dotted paths such as `load.w`). 422 when `from` is not before `to`, or when the range holds more than 10,000 steps of `every`. 503 (`store_unavailable`, with Retry-After) while InfluxDB does not answer.",
        params: IdParams,
        querystring: z.object({
          from: QueryTime.optional(),
          to: QueryTime.optional(),
          every: z.enum(["minute", "hour", "day"]).optional(),
          kind: z.enum(["telemetry", "batch", "status"]).default("telemetry"),
          fields: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(MAX_POINTS).default(1000),
        }),
        response: { 200: Telemetry, ...errors(404, 422, 503) },
      },
    },
    async (req) => {
      const d = visible(req, req.params.id);
      const to = req.query.to?.getTime() ?? deps.clock() + 1;
      const from = req.query.from?.getTime() ?? to - 86_400_000;
      if (!(from < to)) throw invalid(errorMessage("range_order", { from, to }));
      const measurement = `${d.family}_${req.query.kind}`;
      if (req.query.every) {
        const buckets = (to - from) / EVERY_MS[req.query.every];
        if (buckets > MAX_POINTS)
          throw invalid(registryMessage("too_many_buckets", { buckets: Math.ceil(buckets), every: req.query.every, max: MAX_POINTS }));
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
    "/api/v1/telemetry/aggregate",
    {
      config: { roles: ALL_ROLES, touches: { kind: "place", from: "query" } },
      schema: {
        tags: ["devices"],
        operationId: "getTownAggregates",
        summary: "A town's (or a village's) lights aggregated per hour or day, in one query: min, avg, max, last and count per field, light and step",
        description: `Every streetlight registered in \`town\` (and \`village\`, when given), each with its fields' statistics as arrays aligned with \`buckets\` (null, count 0, in a step the light sent nothing; no fields for a light that sent nothing in the range): what a chart or a report of a town reads. \`town\` is required; a key limited to other towns gets 403. The last 30 days by default (with \`every=day\` the buckets are China days). The fields by default are those the rollups keep for the step, the same over any range (per hour ${HOURLY_FIELDS.join(", ")}; per day also ${DAILY_FIELDS.filter((f) => !HOURLY_FIELDS.includes(f)).join(", ")}); \`fields\` asks for others (dotted paths such as \`pv.v\`), which are read from the raw readings (slower, and only within the raw retention, 60 days by default: docs/DATA.md). Gzipped when the client accepts it (\`Accept-Encoding\`): a town's month is ~7 MB of numbers. 422 when \`from\` is not before \`to\`, when \`fields\` names one a streetlight does not have (${STREETLIGHT_FIELDS.join(", ")}), or when lights × steps of \`every\` exceed ${MAX_LIGHT_BUCKETS.toLocaleString("en")}.`,
        querystring: z.object({
          town: z.string().min(1),
          village: z.string().min(1).optional(),
          from: QueryTime.optional(),
          to: QueryTime.optional(),
          every: z.enum(["hour", "day"]).default("day"),
          fields: z.string().optional(),
        }),
        response: { 200: TownAggregates, ...errors(403, 422) },
      },
    },
    async (req, reply) => {
      const { town, village, every } = req.query;
      const to = req.query.to?.getTime() ?? deps.clock() + 1;
      const from = req.query.from?.getTime() ?? to - 30 * 86_400_000;
      if (!(from < to)) throw invalid(errorMessage("range_order", { from, to }));
      const lights = registry.list({ family: "streetlight", town, village }).map((d) => d.id);
      const stepCount = Math.ceil((to - from) / EVERY_MS[every]);
      const counted = Math.max(lights.length, 1);
      if (stepCount * counted > MAX_LIGHT_BUCKETS)
        throw invalid(registryMessage("too_many_light_steps", { lights: counted, steps: stepCount, every, max: MAX_LIGHT_BUCKETS }));
      const asked = req.query.fields
        ?.split(",")
        .map((f) => f.trim())
        .filter(Boolean);
      const unknown = asked?.filter((f) => !STREETLIGHT_FIELDS.includes(f)) ?? [];
      if (unknown.length) throw invalid(registryMessage("unknown_fields", { fields: [...new Set(unknown)], known: STREETLIGHT_FIELDS }));
      const fields = asked?.length ? [...new Set(asked)] : [...(every === "hour" ? HOURLY_FIELDS : DAILY_FIELDS)];
      const measurement = "streetlight_telemetry";
      const first = every === "day" ? chinaMidnight(from) : Math.floor(from / EVERY_MS.hour) * EVERY_MS.hour;
      const steps: number[] = [];
      for (let ts = first; ts < to; ts += EVERY_MS[every]) steps.push(ts);
      const series = lights.length
        ? await alignedTown(telemetry, { deviceIds: lights, measurement, from, to, every, fields }, first, EVERY_MS[every], steps.length)
        : new Map<string, Record<string, Series>>();
      // A town's month is ~24,000 light-days, ~1 million numbers: serialised as they are (checking each against the
      // schema took longer than the query; test/town-aggregates.test.ts holds the answers to it) and gzipped when accepted.
      return sendLargeJson<z.infer<typeof TownAggregates>>(req, reply, {
        town,
        village: village ?? null,
        measurement,
        every,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        fields,
        buckets: steps.map((ts) => new Date(ts).toISOString()),
        lights: lights.map((deviceId) => ({ deviceId, fields: series.get(deviceId) ?? {} })),
      });
    },
  );

  app.get(
    "/api/v1/devices/:id/rejects",
    {
      config: { roles: ["admin", "operator", "technician"], touches: { kind: "device", from: "params" } },
      schema: {
        tags: ["devices"],
        operationId: "getDeviceRejects",
        summary: "Rejected messages: counts by reason and the most recent, with their raw payload",
        description:
          "What the device sent that the service refused (bad JSON, out-of-range values, wrong topic, …): counts per reason since it was registered, and the most recent messages as received (UTF-8, or base64 when not text).",
        params: IdParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
        response: {
          200: withExample(
            z.object({ deviceId: z.string(), counts: RejectCounts, recent: z.array(Reject) }),
            { deviceId: "YC-LS-0001", counts: { invalid: 3 }, recent: [EXAMPLE_REJECT] },
            { description: "Counts per reason, and the most recent rejects, newest first" },
          ),
          ...errors(404),
        },
      },
    },
    async (req) => {
      const d = visible(req, req.params.id);
      const r = await rejects.rejectsFor(d.id, req.query.limit);
      return { deviceId: d.id, counts: r.counts, recent: r.recent.map(rejectView(req.lang)) };
    },
  );

  app.get(
    "/api/v1/rejects/unregistered",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["devices"],
        operationId: "listUnregisteredRejects",
        summary: "Rejected messages that named no registered device (external broker mode)",
        description: "With an external broker anyone may publish: messages on topics of unregistered devices are counted and kept here.",
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
        response: {
          200: withExample(
            z.object({ counts: RejectCounts, recent: z.array(Reject) }),
            {
              counts: { unknown_device: 12 },
              recent: [
                {
                  ...EXAMPLE_REJECT,
                  deviceId: null,
                  clientId: null,
                  topic: "streetlight/YC-LS-9999/telemetry",
                  reason: "unknown_device",
                  detail: "",
                },
              ],
            },
            { description: "Counts per reason, and the most recent rejects, newest first" },
          ),
        },
      },
    },
    async (req) => {
      const r = await rejects.rejectsFor(null, req.query.limit);
      return { counts: r.counts, recent: r.recent.map(rejectView(req.lang)) };
    },
  );

  app.get(
    "/api/v1/devices/:id/presence",
    {
      config: { roles: ALL_ROLES, touches: { kind: "device", from: "params" } },
      schema: {
        tags: ["devices"],
        operationId: "getDevicePresence",
        summary: "Online/offline transitions, newest first",
        description: "The last 100 changes, each with its cause (`connected`, `disconnected`, `message`, `silent`, …).",
        params: IdParams,
        response: {
          200: withExample(
            z.object({ deviceId: z.string(), events: z.array(z.object({ online: z.boolean(), cause: z.string(), at: IsoTime })) }),
            {
              deviceId: "YC-LS-0001",
              events: [
                { online: true, cause: "connected", at: "2025-11-28T09:12:40.000Z" },
                { online: false, cause: "silent", at: "2025-11-28T08:40:00.000Z" },
              ],
            },
            { description: "Transitions, newest first" },
          ),
          ...errors(404),
        },
      },
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
      config: { roles: ["admin"], touches: { kind: "device", from: "params" } },
      schema: {
        tags: ["devices"],
        operationId: "rotateDeviceSecret",
        summary: "Issue a new secret (the old one stops working; the device is disconnected)",
        description: "For a lost or leaked secret: the device must be given the new one before it can connect again.",
        params: IdParams,
        response: { 200: Created, ...errors(404) },
      },
    },
    async (req) => {
      const secret = await registry.rotateSecret(req.params.id);
      if (secret === undefined) throw notFound("device", req.params.id);
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
        config: { roles: ["admin"], touches: { kind: "device", from: "params" } },
        schema: {
          tags: ["devices"],
          operationId: disabled ? "disableDevice" : "enableDevice",
          summary: disabled ? "Disable a device: it is disconnected and refused" : "Enable a disabled device",
          description: disabled
            ? "The device is disconnected at once and its connections are refused until it is enabled again; its data stays."
            : "The device may connect again with its secret.",
          params: IdParams,
          response: { 200: DeviceSchema, ...errors(404) },
        },
      },
      async (req) => {
        const d = await registry.setDisabled(req.params.id, disabled);
        if (!d) throw notFound("device", req.params.id);
        if (disabled) deps.disconnect(d.id);
        return view(d);
      },
    );
  }
}
