import { z } from "zod";
import type { Principal } from "../access/api-keys.js";
import type { Api } from "../http/server.js";
import { openEventStream } from "../http/sse.js";
import { notFound } from "../platform/errors.js";
import { type Catalogue, detailFields, type Lang, type Message } from "../platform/i18n.js";
import type { Alert, AlertEngine } from "./engine.js";
import { ChannelInputSchema, type Notifier, SilenceInputSchema } from "./notifier.js";

const WORK = ["admin", "operator", "technician"] as const;
const Id = z.object({ id: z.string().min(1).max(100) });
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
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
/** A technician limited to towns sees those towns' alerts; an operator limited to stations, those stations'. */
const sees = (p: Principal | null, a: Alert) =>
  !!p && (!p.towns || (!!a.town && p.towns.includes(a.town))) && (!p.stations || (!!a.station && p.stations.includes(a.station)));

export function alertRoutes(app: Api, deps: { engine: AlertEngine; notifier: Notifier; messages: Catalogue }) {
  const { engine, notifier, messages } = deps;
  const visible = (p: Principal | null, id: string) => {
    const a = engine.get(id);
    if (!a || !sees(p, a)) throw notFound("alert", id);
    return a;
  };
  const who = (p: Principal | null) => p?.name ?? "unknown";
  /** An action on an alert the caller may see, answered with the alert as it is now. */
  const act = (req: { principal: Principal | null; lang: Lang; params: { id: string } }, fn: (id: string, by: string) => Alert | undefined) => {
    visible(req.principal, req.params.id);
    return view(fn(req.params.id, who(req.principal)) as Alert, messages.in(req.lang));
  };

  app.get(
    "/api/v1/alerts",
    {
      config: { roles: WORK },
      schema: {
        tags: ["alerts"],
        summary: "Alerts, newest first",
        querystring: z.object({
          state: z.enum(["firing", "acknowledged", "resolved", "open"]).optional(),
          type: z.string().optional(),
          town: z.string().optional(),
          station: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(200),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const alerts = engine
        .list()
        .filter((a) => sees(req.principal, a))
        .filter((a) => !q.state || (q.state === "open" ? a.state !== "resolved" : a.state === q.state))
        .filter((a) => (!q.type || a.type === q.type) && (!q.town || a.town === q.town) && (!q.station || a.station === q.station))
        .sort((a, b) => b.since - a.since)
        .slice(0, q.limit);
      const render = messages.in(req.lang);
      return { alerts: alerts.map((a) => view(a, render)) };
    },
  );
  app.get(
    "/api/v1/alerts/:id",
    { config: { roles: WORK }, schema: { tags: ["alerts"], summary: "One alert with its history", params: Id } },
    async (req) => view(visible(req.principal, req.params.id), messages.in(req.lang)),
  );
  app.post(
    "/api/v1/alerts/:id/ack",
    {
      config: { roles: WORK },
      schema: { tags: ["alerts"], summary: "I'm on it", params: Id, body: z.object({ comment: z.string().max(1000).optional() }).default({}) },
    },
    async (req) => act(req, (id, by) => engine.ack(id, by, req.body.comment)),
  );
  app.post(
    "/api/v1/alerts/:id/resolve",
    {
      config: { roles: WORK },
      schema: { tags: ["alerts"], summary: "Fixed, with a comment", params: Id, body: z.object({ comment: z.string().trim().min(1).max(1000) }) },
    },
    async (req) => act(req, (id, by) => engine.resolve(id, by, req.body.comment)),
  );
  app.post(
    "/api/v1/alerts/:id/assign",
    {
      config: { roles: WORK },
      schema: { tags: ["alerts"], summary: "Assign to a person", params: Id, body: z.object({ assignee: z.string().trim().min(1).max(100) }) },
    },
    async (req) => act(req, (id, by) => engine.assign(id, by, req.body.assignee)),
  );
  app.post(
    "/api/v1/alerts/:id/comments",
    {
      config: { roles: WORK },
      schema: { tags: ["alerts"], summary: "Add a comment", params: Id, body: z.object({ text: z.string().trim().min(1).max(2000) }) },
    },
    async (req, reply) => reply.status(201).send(act(req, (id, by) => engine.comment(id, by, req.body.text))),
  );
  app.get(
    "/api/v1/alerts/stream",
    {
      config: { roles: WORK, queryKey: true },
      schema: {
        tags: ["alerts"],
        summary: "Server-Sent Events: `alert` on every change (browsers may pass ?key=)",
        querystring: z.object({ key: z.string().optional() }),
      },
    },
    async (req, reply) => {
      const stream = openEventStream(req, reply);
      const onChange = (a: Alert) => {
        if (sees(req.principal, a)) stream.send("alert", view(a, messages.in(req.lang)));
      };
      engine.events.on("change", onChange);
      stream.onClose(() => engine.events.off("change", onChange));
    },
  );

  app.post(
    "/api/v1/channels",
    {
      config: { roles: ["admin"] },
      schema: {
        tags: ["alerts"],
        summary: "A delivery channel: webhook (HMAC-signed), DingTalk or WeCom group robot, or an MQTT topic",
        body: ChannelInputSchema,
      },
    },
    async (req, reply) => {
      const c = await notifier.addChannel(req.body);
      return reply.status(201).send({ ...c, secret: c.secret ? "••••" : undefined });
    },
  );
  app.get("/api/v1/channels", { config: { roles: ["admin"] }, schema: { tags: ["alerts"], summary: "Channels (secrets hidden)" } }, async () => ({
    channels: notifier.channels().map((c) => ({ ...c, secret: c.secret ? "••••" : undefined, createdAt: iso(c.createdAt) })),
  }));
  app.delete(
    "/api/v1/channels/:id",
    { config: { roles: ["admin"] }, schema: { tags: ["alerts"], summary: "Remove a channel", params: Id } },
    async (req, reply) => {
      if (!(await notifier.removeChannel(req.params.id))) throw notFound("channel", req.params.id);
      return reply.status(204).send();
    },
  );
  app.get(
    "/api/v1/channels/:id/deliveries",
    {
      config: { roles: ["admin"] },
      schema: {
        tags: ["alerts"],
        summary: "Recent deliveries with their status, attempts and last error",
        params: Id,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
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
      config: { roles: WORK },
      schema: {
        tags: ["alerts"],
        summary: "Silence or a maintenance window: by town, device or type, until a time, with a reason",
        body: SilenceInputSchema,
      },
    },
    async (req, reply) => reply.status(201).send(await notifier.addSilence(req.body, who(req.principal))),
  );
  app.get("/api/v1/silences", { config: { roles: WORK }, schema: { tags: ["alerts"], summary: "Silences in force" } }, async () => ({
    silences: notifier.silences().map((s) => ({ ...s, until: iso(s.until) })),
  }));
  app.delete(
    "/api/v1/silences/:id",
    { config: { roles: WORK }, schema: { tags: ["alerts"], summary: "End a silence", params: Id } },
    async (req, reply) => {
      await notifier.removeSilence(req.params.id);
      return reply.status(204).send();
    },
  );
}
