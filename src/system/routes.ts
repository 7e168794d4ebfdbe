import { z } from "zod";
import type { ApiKeys, Principal } from "../access/api-keys.js";
import { ROLES } from "../access/roles.js";
import { errors, IdParam, IsoTime, NoContent, withExample } from "../http/schemas.js";
import { ALL_ROLES, type Api } from "../http/server.js";
import { notFound } from "../platform/errors.js";
import type { Metrics } from "../platform/metrics.js";

const RoleSchema = z.enum(ROLES);
const Readiness = withExample(
  z.object({
    ready: z.boolean(),
    checks: z.record(z.string(), z.boolean()),
    ingest: z
      .enum(["active", "standby"])
      .optional()
      .describe("With AGRILUME_INGEST_FAILOVER=lease: whether this instance takes the readings (active) or waits to take over (standby)"),
  }),
  { ready: true, checks: { telemetryStore: true, stateStore: true, broker: true, storeWriter: true } },
  { id: "Readiness", description: "Whether each part the service needs answers" },
);
const Me = withExample(
  z.object({
    name: z.string(),
    role: RoleSchema,
    towns: z.array(z.string()).nullable(),
    stations: z.array(z.string()).nullable(),
    kind: z.enum(["key", "user"]),
    mustChangePassword: z.boolean(),
    csrfToken: z.string().nullable(),
  }),
  { name: "来苏镇维修组", role: "technician", towns: ["来苏镇"], stations: null, kind: "key", mustChangePassword: false, csrfToken: null },
  {
    id: "Me",
    description:
      "The caller, a key or a signed-in user: name, role, the towns or stations it is limited to (null: all); for a user, whether the password must be changed first and the session's CSRF token (null for a key)",
  },
);
const CreatedKey = withExample(
  z.object({ id: z.string(), key: z.string() }),
  { id: "3f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60", key: "agl_Zk3v9QeXr2m8TqW1yN5pL7sB0dF4hJ6uC8aE2gI9oK" },
  { description: "The new key: shown only in this answer" },
);
const KeyList = withExample(
  z.object({
    keys: z.array(
      z.object({
        id: z.string(),
        name: z.string(),
        role: RoleSchema,
        towns: z.array(z.string()).nullable(),
        stations: z.array(z.string()).nullable(),
        createdAt: IsoTime,
        revokedAt: IsoTime.nullable(),
      }),
    ),
  }),
  {
    keys: [
      {
        id: "3f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60",
        name: "来苏镇维修组",
        role: "technician",
        towns: ["来苏镇"],
        stations: null,
        createdAt: "2025-03-01T02:00:00.000Z",
        revokedAt: null,
      },
    ],
  },
  { description: "Keys in force, without the keys themselves" },
);

/** Health, readiness, metrics and API key management. */
export function systemRoutes(
  app: Api,
  deps: {
    metrics: Metrics;
    apiKeys: ApiKeys;
    readiness: () => Promise<Record<string, boolean>>;
    /** Active/standby ingest: this instance's role (null: not in that mode). */
    ingestRole?: () => "active" | "standby" | null;
  },
) {
  app.get(
    "/health",
    {
      config: { roles: "public" },
      schema: {
        tags: ["system"],
        operationId: "getHealth",
        summary: "The process is up",
        description: "Answers as long as the process runs, whatever the stores and the broker do (a liveness probe). Needs no key.",
        response: { 200: withExample(z.object({ status: z.literal("ok") }), { status: "ok" }, { description: "The process runs" }) },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/ready",
    {
      config: { roles: "public" },
      schema: {
        tags: ["system"],
        operationId: "getReady",
        summary: "Stores and broker are up",
        description:
          "200 when the telemetry store, the state store and the broker all answer, 503 (same body) when one does not (a readiness probe). With active/standby ingest, `ingest` says this instance's role, and a standby is ready while it is in line for the lease. Needs no key.",
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_req, reply) => {
      const checks = await deps.readiness();
      const ready = Object.values(checks).every(Boolean);
      const ingest = deps.ingestRole?.() ?? undefined;
      return reply.status(ready ? 200 : 503).send({ ready, checks, ...(ingest ? { ingest } : {}) });
    },
  );

  app.get(
    "/metrics",
    {
      config: { roles: ["admin", "metrics"], touches: "everything" },
      schema: {
        tags: ["system"],
        operationId: "getMetrics",
        summary: "Prometheus metrics (a `metrics` key as bearer token)",
        description:
          "Ingest, store, presence and alert-delivery metrics in the Prometheus text format, for a scrape job with a key of the `metrics` role (which reaches nothing else) or an admin's.",
        response: {
          200: {
            description: "Prometheus text exposition format",
            content: {
              "text/plain": {
                schema: withExample(
                  z.string(),
                  '# HELP agrilume_online Devices online\n# TYPE agrilume_online gauge\nagrilume_online{family="streetlight"} 1187\n',
                ),
              },
            },
          },
        },
      },
    },
    async (_req, reply) => {
      reply.header("content-type", deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    },
  );

  app.get(
    "/api/v1/me",
    {
      config: { roles: ALL_ROLES, touches: "caller" },
      schema: {
        tags: ["keys"],
        operationId: "getMe",
        summary: "Who is calling: name, role and the towns or stations it is limited to; a user's CSRF token",
        description:
          "Any signed-in user or valid key may ask (a user whose password must change too). The web console reads it to show the pages of the role, and, after a reload, the session's CSRF token for writes.",
        response: { 200: Me },
      },
    },
    async (req) => {
      // (a route with roles always has a principal: the onRequest hook answers 401 without one)
      const p = req.principal as Principal;
      return {
        name: p.name,
        role: p.role,
        towns: p.towns,
        stations: p.stations,
        kind: p.kind,
        mustChangePassword: p.mustChangePassword ?? false,
        csrfToken: p.session?.csrfToken ?? null,
      };
    },
  );

  const KeyInput = z.object({
    name: z.string().trim().min(1).max(100),
    role: RoleSchema,
    towns: z.array(z.string().min(1)).min(1).optional(),
    stations: z.array(z.string().min(1)).min(1).optional(),
  });
  app.post(
    "/api/v1/keys",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["keys"],
        operationId: "createKey",
        summary: "Create an API key for a role (optionally limited to towns or stations); the key is shown only here",
        // (keys are for machines and integrations: a Prometheus scrape job gets one of the `metrics` role)
        description:
          "The service keeps only a hash of the key, so it cannot be shown again: hand it to its holder now. A key limited to towns (technicians) or stations (operators) sees only their devices, alerts and orders.",
        body: withExample(KeyInput, { name: "来苏镇维修组", role: "technician", towns: ["来苏镇"] }),
        response: { 201: CreatedKey },
      },
    },
    async (req, reply) => reply.status(201).send(await deps.apiKeys.create(req.body)),
  );
  app.get(
    "/api/v1/keys",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["keys"],
        operationId: "listKeys",
        summary: "List API keys (never the keys themselves)",
        description: "Every key in force with its role, limits and creation time; revoked keys are not listed.",
        response: { 200: KeyList },
      },
    },
    async () => ({
      keys: deps.apiKeys.list().map((k) => ({
        ...k,
        createdAt: new Date(k.createdAt).toISOString(),
        revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
      })),
    }),
  );
  app.delete(
    "/api/v1/keys/:id",
    {
      config: { roles: ["admin"], touches: "everything" },
      schema: {
        tags: ["keys"],
        operationId: "revokeKey",
        summary: "Revoke an API key",
        description: "The key stops working at once; 404 when no key in force has this id.",
        params: IdParam,
        response: { 204: NoContent, ...errors(404) },
      },
    },
    async (req, reply) => {
      if (!(await deps.apiKeys.revoke(req.params.id))) throw notFound("key", req.params.id);
      return reply.status(204).send();
    },
  );
}
