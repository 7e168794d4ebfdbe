import { z } from "zod";
import { type Access, type Place, placeOf, type Scope, sees } from "../access/scope.js";
import { errors, eventStream, IdParam, IsoTime, MessageCode, MessageParams, NoContent, withExample } from "../http/schemas.js";
import type { Api } from "../http/server.js";
import { openEventStream } from "../http/sse.js";
import { notFound } from "../platform/errors.js";
import { type Catalogue, detailFields, type Lang, type Message } from "../platform/i18n.js";
import type { Alert, AlertEngine } from "./engine.js";
import { ChannelInputSchema, type Notifier, SilenceInputSchema } from "./notifier.js";

const WORK = ["admin", "operator", "technician"] as const;
const Id = IdParam;
function iso(t: number): string;
function iso(t: number | null): string | null;
function iso(t: number | null) {
  return t === null ? null : new Date(t).toISOString();
}

const EXAMPLE_ALERT = {
  id: "a7c3e9d2-41b8-4f6a-9e0d-2b5c8f1a3d47",
  deviceId: "YC-LS-0001",
  family: "streetlight" as const,
  type: "dark",
  severity: "major" as const,
  state: "acknowledged" as const,
  since: "2025-11-28T10:42:00.000Z",
  resolvedAt: null,
  town: "来苏镇",
  village: "梳妆台村",
  station: null,
  detail: "功率 0 W，应为 30 W",
  detailCode: "lamp_power_low",
  detailParams: { w: 0, expectedW: 30 },
  assignee: "李师傅",
  suppressedBy: null,
  history: [
    { at: "2025-11-28T10:42:00.000Z", who: "system", action: "fired" as const },
    { at: "2025-11-28T11:03:00.000Z", who: "李师傅", action: "acknowledged" as const, text: "明早去现场" },
  ],
};
const AlertSchema = withExample(
  z.object({
    id: z.string(),
    deviceId: z.string().describe("The device, or for a village outage `town/village`"),
    family: z.enum(["streetlight", "blender", "village", "broker"]),
    type: z
      .string()
      .describe(
        "The condition: dark, offline, day_burner, … for lights; out_of_tolerance, stalled, … for machines; village_outage; broker_dropped (the external broker lost messages: `deviceId` is its URL)",
      ),
    severity: z.enum(["critical", "major", "minor"]),
    state: z.enum(["firing", "acknowledged", "resolved"]),
    since: IsoTime,
    resolvedAt: IsoTime.nullable(),
    town: z.string().nullable(),
    village: z.string().nullable(),
    station: z.string().nullable(),
    detail: z.string().describe("What the rule saw, in the reader's language"),
    detailCode: MessageCode.nullable(),
    detailParams: MessageParams.nullable(),
    assignee: z.string().nullable(),
    suppressedBy: z.string().nullable().describe("Not notified: held back by another alert or a silence"),
    history: z.array(
      z.object({
        at: IsoTime,
        who: z.string(),
        action: z.enum(["fired", "acknowledged", "resolved", "assigned", "commented", "reopened"]),
        text: z.string().optional(),
        textCode: MessageCode.optional().describe("When the system wrote the entry: its message's code (`text` is in the reader's language)"),
        textParams: MessageParams.optional(),
      }),
    ),
  }),
  EXAMPLE_ALERT,
  { id: "Alert", description: "An alert with its history; `detail` is in the reader's language" },
);
const Channel = {
  id: z.string(),
  name: z.string(),
  type: z.enum(["webhook", "dingtalk", "wecom", "mqtt"]),
  url: z.string().optional(),
  secret: z.literal("••••").optional().describe("Never shown: •••• when the channel has one"),
  towns: z.array(z.string()).optional(),
  stations: z.array(z.string()).optional(),
  lang: z.enum(["zh", "en"]).optional(),
};
const EXAMPLE_CHANNEL = {
  id: "c5d1f0a8-7e2b-4c93-8a6d-0f1e2d3c4b5a",
  name: "来苏镇维修群",
  type: "dingtalk" as const,
  url: "https://oapi.dingtalk.com/robot/send?access_token=…",
  secret: "••••" as const,
  towns: ["来苏镇"],
};
const Silence = {
  id: z.string(),
  town: z.string().optional(),
  deviceId: z.string().optional(),
  type: z.string().optional(),
  reason: z.string(),
  by: z.string(),
};
const EXAMPLE_SILENCE = { id: "e2f4a6b8-1c3d-4e5f-8a9b-0c1d2e3f4a5b", town: "来苏镇", reason: "线路检修", by: "admin" };
/**
 * An alert as a reader sees it: times as ISO; what the system said (the detail, its history entries) as text in the
 * reader's language, with the code and parameters beside it (`detailCode`, `detailParams`; `textCode`, `textParams`).
 */
const view = (a: Alert, render: (m: Message) => string) => ({
  ...a,
  ...detailFields(render, a.detail),
  since: iso(a.since),
  resolvedAt: iso(a.resolvedAt),
  history: a.history.map(({ message, ...h }) => ({
    ...h,
    at: iso(h.at),
    ...(message ? { text: render(message), textCode: message.code, textParams: message.params } : {}),
  })),
});
/** Where an alert is: its town (a light, a village) or its station (a machine). */
const alertPlace = (a: Alert): Place => ({ town: a.town, station: a.station });

export function alertRoutes(
  app: Api,
  deps: { engine: AlertEngine; notifier: Notifier; messages: Catalogue; access: Access; deviceAt: (id: string) => Place | null },
) {
  const { engine, notifier, messages } = deps;
  /** Where a silence applies: its device's place, else its town, else every town (shared: unlimited callers only). */
  const silencePlace = (s: { town?: string | undefined; deviceId?: string | undefined }): Place =>
    (s.deviceId !== undefined ? deps.deviceAt(s.deviceId) : null) ?? placeOf({ town: s.town });
  // The access owner asks these where an alert or a silence is (a route declares `touches: { kind, from }`).
  deps.access.define("alert", async (id) => {
    const a = await engine.find(String(id));
    return a ? alertPlace(a) : null;
  });
  deps.access.define("silence", (subject, caller) => {
    if (typeof subject !== "string") {
      const body = subject as { town?: string; deviceId?: string };
      // a device named in a new silence: one the caller may not see is answered as an unknown one (404), so that a
      // limited caller learns neither that it exists nor its town
      if (body.deviceId !== undefined) {
        const at = deps.deviceAt(body.deviceId);
        if (!at || !sees(caller, at)) throw notFound("device", body.deviceId);
      }
      return silencePlace(body);
    }
    const s = notifier.silences().find((x) => x.id === subject);
    return s ? silencePlace(s) : null;
  });
  const find = async (id: string) => {
    const a = await engine.find(id);
    if (!a) throw notFound("alert", id);
    return a;
  };
  const who = (p: { name: string } | null) => p?.name ?? "unknown";
  /** An action on an alert (the access owner has checked it is the caller's), answered with the alert as it is now. */
  const act = async (
    req: { principal: { name: string } | null; lang: Lang; params: { id: string } },
    fn: (id: string, by: string) => Promise<Alert | undefined>,
  ) => {
    await find(req.params.id);
    return view((await fn(req.params.id, who(req.principal))) as Alert, messages.in(req.lang));
  };
  const seesAlert = (s: Scope | null, a: Alert) => sees(s, alertPlace(a));

  app.get(
    "/api/v1/alerts",
    {
      config: { roles: WORK, touches: "list" },
      schema: {
        tags: ["alerts"],
        operationId: "listAlerts",
        summary: "Alerts, newest first",
        description:
          "Alerts of the towns or stations the key may see. `state=open` is firing or acknowledged. One alert is open per device and type at a time.",
        querystring: z.object({
          state: z.enum(["firing", "acknowledged", "resolved", "open"]).optional(),
          type: z.string().optional(),
          town: z.string().optional(),
          station: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(200),
        }),
        response: {
          200: withExample(
            z.object({ alerts: z.array(AlertSchema) }),
            { alerts: [EXAMPLE_ALERT] },
            { description: "Alerts that match, newest first" },
          ),
        },
      },
    },
    async (req) => {
      const p = req.principal;
      // open alerts from memory, resolved ones from the store: the reader's limits go into the query, so `limit` holds
      const alerts = (await engine.query({ ...req.query, towns: p?.towns, stations: p?.stations })).filter((a) => seesAlert(p, a));
      const render = messages.in(req.lang);
      return { alerts: alerts.map((a) => view(a, render)) };
    },
  );
  app.get(
    "/api/v1/alerts/:id",
    {
      config: { roles: WORK, touches: { kind: "alert", from: "params" } },
      schema: {
        tags: ["alerts"],
        operationId: "getAlert",
        summary: "One alert with its history",
        description: "404 for an unknown alert or one outside the key's towns or stations.",
        params: Id,
        response: { 200: AlertSchema, ...errors(404) },
      },
    },
    async (req) => view(await find(req.params.id), messages.in(req.lang)),
  );
  app.post(
    "/api/v1/alerts/:id/ack",
    {
      config: { roles: WORK, touches: { kind: "alert", from: "params" } },
      schema: {
        tags: ["alerts"],
        operationId: "ackAlert",
        summary: "I'm on it",
        description:
          "A firing alert becomes acknowledged: its channels stop reminding. Recorded in the history with who and when, and the comment if given.",
        params: Id,
        body: withExample(z.object({ comment: z.string().max(1000).optional() }).default({}), { comment: "明早去现场" }),
        response: { 200: AlertSchema, ...errors(404) },
      },
    },
    async (req) => act(req, (id, by) => engine.ack(id, by, req.body.comment)),
  );
  app.post(
    "/api/v1/alerts/:id/resolve",
    {
      config: { roles: WORK, touches: { kind: "alert", from: "params" } },
      schema: {
        tags: ["alerts"],
        operationId: "resolveAlert",
        summary: "Fixed, with a comment",
        description: "Resolved by a person, who says what was done. Should the condition come back, a new alert fires.",
        params: Id,
        body: withExample(z.object({ comment: z.string().trim().min(1).max(1000) }), { comment: "更换了灯头" }),
        response: { 200: AlertSchema, ...errors(404) },
      },
    },
    async (req) => act(req, (id, by) => engine.resolve(id, by, req.body.comment)),
  );
  app.post(
    "/api/v1/alerts/:id/assign",
    {
      config: { roles: WORK, touches: { kind: "alert", from: "params" } },
      schema: {
        tags: ["alerts"],
        operationId: "assignAlert",
        summary: "Assign to a person",
        description: "Who does it; recorded in the history.",
        params: Id,
        body: withExample(z.object({ assignee: z.string().trim().min(1).max(100) }), { assignee: "李师傅" }),
        response: { 200: AlertSchema, ...errors(404) },
      },
    },
    async (req) => act(req, (id, by) => engine.assign(id, by, req.body.assignee)),
  );
  app.post(
    "/api/v1/alerts/:id/comments",
    {
      config: { roles: WORK, touches: { kind: "alert", from: "params" } },
      schema: {
        tags: ["alerts"],
        operationId: "commentAlert",
        summary: "Add a comment",
        description: "A note in the alert's history, with who and when.",
        params: Id,
        body: withExample(z.object({ text: z.string().trim().min(1).max(2000) }), { text: "村里反映昨晚也不亮" }),
        response: { 201: AlertSchema, ...errors(404) },
      },
    },
    async (req, reply) => reply.status(201).send(await act(req, (id, by) => engine.comment(id, by, req.body.text))),
  );
  app.get(
    "/api/v1/alerts/stream",
    {
      config: { roles: WORK, queryKey: true, touches: "list" },
      schema: {
        tags: ["alerts"],
        operationId: "streamAlerts",
        summary: "Server-Sent Events: `alert` on every change (the console signs in by its session cookie; a machine may pass ?key=)",
        description: "Every change to an alert the key may see (fired, acknowledged, assigned, commented, resolved), as it happens.",
        querystring: z.object({ key: z.string().optional() }),
        response: {
          200: eventStream(
            "Server-Sent Events: `event: alert`, whose `data` is the JSON shown (the alert as it is after the change), and a `: keep-alive` comment every 15 s",
            AlertSchema,
          ),
        },
      },
    },
    async (req, reply) => {
      const stream = openEventStream(req, reply);
      const onChange = (a: Alert) => {
        if (seesAlert(req.principal, a)) stream.send("alert", view(a, messages.in(req.lang)));
      };
      engine.events.on("change", onChange);
      stream.onClose(() => engine.events.off("change", onChange));
    },
  );

  app.post(
    "/api/v1/channels",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["alerts"],
        operationId: "addChannel",
        summary: "A delivery channel: webhook (HMAC-signed), DingTalk or WeCom group robot, or an MQTT topic",
        description:
          "Alerts of the channel's towns or stations (all when none are given) are sent there, grouped, in the channel's language; reminders follow while an alert fires. The secret signs webhooks and robot messages and is never shown again.",
        body: withExample(ChannelInputSchema, {
          name: "来苏镇维修群",
          type: "dingtalk",
          url: "https://oapi.dingtalk.com/robot/send?access_token=…",
          secret: "SEC0123456789abcdef",
          towns: ["来苏镇"],
        }),
        response: {
          201: withExample(
            z.object({ ...Channel, createdAt: IsoTime }),
            { ...EXAMPLE_CHANNEL, createdAt: "2025-11-27T08:00:00.000Z" },
            { description: "The channel (its secret hidden)" },
          ),
        },
      },
    },
    async (req, reply) => {
      const c = await notifier.addChannel(req.body);
      return reply.status(201).send({ ...c, secret: c.secret ? "••••" : undefined, createdAt: iso(c.createdAt) });
    },
  );
  app.get(
    "/api/v1/channels",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["alerts"],
        operationId: "listChannels",
        summary: "Channels (secrets hidden)",
        description: "Every delivery channel with what it covers.",
        response: {
          200: withExample(
            z.object({ channels: z.array(z.object({ ...Channel, createdAt: IsoTime })) }),
            { channels: [{ ...EXAMPLE_CHANNEL, createdAt: "2025-11-27T08:00:00.000Z" }] },
            { description: "The channels" },
          ),
        },
      },
    },
    async () => ({
      channels: notifier.channels().map((c) => ({ ...c, secret: c.secret ? ("••••" as const) : undefined, createdAt: iso(c.createdAt) })),
    }),
  );
  app.delete(
    "/api/v1/channels/:id",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["alerts"],
        operationId: "removeChannel",
        summary: "Remove a channel",
        description: "Nothing more is sent there; 404 for an unknown channel.",
        params: Id,
        response: { 204: NoContent, ...errors(404) },
      },
    },
    async (req, reply) => {
      if (!(await notifier.removeChannel(req.params.id))) throw notFound("channel", req.params.id);
      return reply.status(204).send();
    },
  );
  app.get(
    "/api/v1/channels/:id/deliveries",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["alerts"],
        operationId: "listChannelDeliveries",
        summary: "Recent deliveries with their status, attempts and last error",
        description: "Newest first: what was sent (or is waiting to be retried), with the text as sent. An unknown channel has none.",
        params: Id,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        response: {
          200: withExample(
            z.object({
              deliveries: z.array(
                z.object({
                  id: z.string(),
                  channelId: z.string(),
                  kind: z.enum(["fired", "resolved", "reminder", "digest"]),
                  alertIds: z.array(z.string()),
                  text: z.string(),
                  status: z.enum(["pending", "sent", "failed"]),
                  attempts: z.number().int(),
                  lastError: z.string().nullable(),
                  createdAt: IsoTime,
                  sentAt: IsoTime.nullable(),
                }),
              ),
            }),
            {
              deliveries: [
                {
                  id: "d0e1f2a3-b4c5-4d6e-8f70-8192a3b4c5d6",
                  channelId: "c5d1f0a8-7e2b-4c93-8a6d-0f1e2d3c4b5a",
                  kind: "fired",
                  alertIds: ["a7c3e9d2-41b8-4f6a-9e0d-2b5c8f1a3d47"],
                  text: "【主要】不亮 YC-LS-0001 来苏镇 梳妆台村",
                  status: "sent",
                  attempts: 1,
                  lastError: null,
                  createdAt: "2025-11-28T10:43:00.000Z",
                  sentAt: "2025-11-28T10:43:01.000Z",
                },
              ],
            },
            { description: "Deliveries, newest first" },
          ),
        },
      },
    },
    async (req) => {
      const d = await notifier.deliveries(req.params.id, req.query.limit);
      return { deliveries: d.map((x) => ({ ...x, createdAt: iso(x.createdAt), sentAt: iso(x.sentAt) })) };
    },
  );

  app.post(
    "/api/v1/silences",
    {
      config: { roles: WORK, touches: { kind: "silence", from: "body" } },
      schema: {
        tags: ["alerts"],
        operationId: "addSilence",
        summary: "Silence or a maintenance window: by town, device or type, until a time, with a reason",
        description:
          "Alerts that match still open and are listed, but are not sent to channels until the silence ends. A caller limited to towns or stations may silence only its own towns' or stations' devices; a silence with neither town nor device applies everywhere and needs a caller without limits (403 otherwise).",
        body: withExample(SilenceInputSchema, { town: "来苏镇", until: "2025-11-29T10:00:00.000Z", reason: "线路检修" }),
        response: {
          201: withExample(
            z.object({ ...Silence, until: IsoTime }),
            { ...EXAMPLE_SILENCE, until: "2025-11-29T10:00:00.000Z" },
            { description: "The silence" },
          ),
          ...errors(403),
        },
      },
    },
    async (req, reply) => {
      const s = await notifier.addSilence(req.body, who(req.principal));
      return reply.status(201).send({ ...s, until: iso(s.until) });
    },
  );
  app.get(
    "/api/v1/silences",
    {
      config: { roles: WORK, touches: "list" },
      schema: {
        tags: ["alerts"],
        operationId: "listSilences",
        summary: "Silences in force",
        description: "Silences whose end has not passed, of the caller's towns and stations and those that apply everywhere.",
        response: {
          200: withExample(
            z.object({ silences: z.array(z.object({ ...Silence, until: IsoTime })) }),
            { silences: [{ ...EXAMPLE_SILENCE, until: "2025-11-29T10:00:00.000Z" }] },
            { description: "Silences in force" },
          ),
        },
      },
    },
    async (req) => ({
      silences: notifier
        .silences()
        .filter((s) => sees(req.principal, silencePlace(s)))
        .map((s) => ({ ...s, until: iso(s.until) })),
    }),
  );
  app.delete(
    "/api/v1/silences/:id",
    {
      config: { roles: WORK, touches: { kind: "silence", from: "params" } },
      schema: {
        tags: ["alerts"],
        operationId: "removeSilence",
        summary: "End a silence",
        description: "Alerts it held back are sent from now on. 404 for an unknown silence or one outside the caller's towns or stations.",
        params: Id,
        response: { 204: NoContent, ...errors(404) },
      },
    },
    async (req, reply) => {
      await notifier.removeSilence(req.params.id);
      return reply.status(204).send();
    },
  );
}
