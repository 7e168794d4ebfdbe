import { z } from "zod";
import type { ApiKeys } from "../access/api-keys.js";
import { ROLES } from "../access/roles.js";
import { ALL_ROLES, type Api } from "../http/server.js";
import { notFound } from "../platform/errors.js";
import type { Metrics } from "../platform/metrics.js";

/** Health, readiness, metrics and API key management. */
export function systemRoutes(app: Api, deps: { metrics: Metrics; apiKeys: ApiKeys; readiness: () => Promise<Record<string, boolean>> }) {
  app.get("/health", { config: { roles: "public" }, schema: { tags: ["system"], summary: "The process is up" } }, async () => ({ status: "ok" }));

  app.get("/ready", { config: { roles: "public" }, schema: { tags: ["system"], summary: "Stores and broker are up" } }, async (_req, reply) => {
    const checks = await deps.readiness();
    const ready = Object.values(checks).every(Boolean);
    return reply.status(ready ? 200 : 503).send({ ready, checks });
  });

  app.get(
    "/metrics",
    { config: { roles: ["admin"] }, schema: { tags: ["system"], summary: "Prometheus metrics (admin key as bearer token)" } },
    async (_req, reply) => {
      reply.header("content-type", deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    },
  );

  app.get(
    "/api/v1/me",
    {
      config: { roles: ALL_ROLES },
      schema: { tags: ["keys"], summary: "Who this key is: name, role and the towns or stations it is limited to (the console signs in with it)" },
    },
    async (req) => {
      const p = req.principal;
      return { name: p?.name ?? "", role: p?.role ?? "", towns: p?.towns ?? null, stations: p?.stations ?? null };
    },
  );

  const KeyInput = z.object({
    name: z.string().trim().min(1).max(100),
    role: z.enum(ROLES as ["admin", "operator", "finance", "technician"]),
    towns: z.array(z.string().min(1)).min(1).optional(),
    stations: z.array(z.string().min(1)).min(1).optional(),
  });
  app.post(
    "/api/v1/keys",
    {
      config: { roles: ["admin"] },
      schema: {
        tags: ["keys"],
        summary: "Create an API key for a role (optionally limited to towns or stations); the key is shown only here",
        body: KeyInput,
      },
    },
    async (req, reply) => reply.status(201).send(await deps.apiKeys.create(req.body)),
  );
  app.get(
    "/api/v1/keys",
    { config: { roles: ["admin"] }, schema: { tags: ["keys"], summary: "List API keys (never the keys themselves)" } },
    async () => ({
      keys: deps.apiKeys.list().map((k) => ({ ...k, createdAt: new Date(k.createdAt).toISOString() })),
    }),
  );
  app.delete(
    "/api/v1/keys/:id",
    { config: { roles: ["admin"] }, schema: { tags: ["keys"], summary: "Revoke an API key", params: z.object({ id: z.string() }) } },
    async (req, reply) => {
      if (!(await deps.apiKeys.revoke(req.params.id))) throw notFound("key", req.params.id);
      return reply.status(204).send();
    },
  );
}
