import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { ApiKeys, Principal } from "../access/api-keys.js";
import { ROLES, type Role } from "../access/roles.js";
import { type Lang, langFromHeader, t } from "../platform/i18n.js";
import type { Logger } from "../platform/log.js";
import { WorkerJobError } from "../platform/workers.js";
import { ApiError } from "./errors.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call the route; every route must say. */
    roles?: readonly Role[] | "public";
    /** Also accept the key as `?key=` (Server-Sent Events: browsers cannot set headers on EventSource). */
    queryKey?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
    /** The reader's language (Accept-Language, else AGRILUME_LANG): for errors and for details written by the rules. */
    lang: Lang;
  }
}

export type Api = FastifyInstance<
  import("node:http").Server,
  import("node:http").IncomingMessage,
  import("node:http").ServerResponse,
  Logger,
  ZodTypeProvider
>;

/** Every role (routes any signed-in caller may use). */
export const ALL_ROLES: readonly Role[] = ROLES;

export async function createHttpServer(deps: { log: Logger; apiKeys: ApiKeys; lang: Lang; trustProxy: boolean }): Promise<Api> {
  const app = Fastify({
    loggerInstance: deps.log,
    // Quiet by default: errors are logged, requests are not.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: deps.trustProxy,
    bodyLimit: 8 * 1024 * 1024,
    // On stop, close every connection, live streams (SSE) included, instead of waiting for clients to leave.
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest("principal", null);
  app.decorateRequest("lang", deps.lang);

  app.addContentTypeParser(["text/csv", "text/plain"], { parseAs: "string" }, (_req, body, done) => done(null, body));

  const lang = (req: FastifyRequest) => langFromHeader(req.headers["accept-language"], deps.lang);

  app.addHook("onRoute", (route) => {
    if (route.url.startsWith("/api/") && !route.config?.roles) throw new Error(`route ${route.method} ${route.url} declares no roles`);
  });
  app.addHook("onRequest", async (req) => {
    req.lang = lang(req);
    const roles = req.routeOptions.config?.roles;
    if (!roles || roles === "public") return;
    const queryKey = req.routeOptions.config?.queryKey ? (req.query as { key?: unknown }).key : undefined;
    const principal = deps.apiKeys.verify(req.headers.authorization ?? (typeof queryKey === "string" ? `Bearer ${queryKey}` : undefined));
    if (!principal) throw new ApiError(401, "unauthorized", "error.unauthorized");
    if (!roles.includes(principal.role)) throw new ApiError(403, "forbidden", "error.forbidden", `needs one of: ${roles.join(", ")}`);
    req.principal = principal;
  });

  app.setErrorHandler((err, req, reply) => {
    const l = lang(req);
    if (err instanceof ApiError) {
      return reply.status(err.status).send({
        error: {
          code: err.code,
          message: err.detail ? `${t(l, err.messageKey)}: ${err.detail}` : t(l, err.messageKey),
          ...(err.details ? { details: err.details } : {}),
        },
      });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const details = err.validation.map((v) => ({ path: `${err.validationContext ?? ""}${v.instancePath}`, message: v.message }));
      return reply.status(400).send({
        error: { code: "validation", message: `${t(l, "error.validation")}: ${details.map((d) => `${d.path} ${d.message}`).join("; ")}`, details },
      });
    }
    if (err instanceof WorkerJobError && err.canRetry) {
      // the worker threads' queue is full (src/platform/workers.ts): a moment later there is room
      return reply
        .status(503)
        .header("retry-after", "5")
        .send({ error: { code: "busy", message: `${t(l, "error.busy")}: ${err.message}` } });
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    const message = err instanceof Error ? err.message : String(err);
    if (status >= 500) {
      req.log.error({ err, url: req.url }, "request failed");
      return reply.status(500).send({ error: { code: "internal", message: t(l, "error.internal") } });
    }
    const code = status === 413 ? "payload_too_large" : status === 415 ? "unsupported_media_type" : status === 404 ? "not_found" : "bad_request";
    return reply.status(status).send({ error: { code, message } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: { code: "not_found", message: `${t(lang(req), "error.not_found")}: ${req.method} ${req.url.split("?")[0]}` } }),
  );

  await app.register(swagger, {
    openapi: {
      info: { title: "Agrilume API", version: "1.0.0", description: "Telemetry for solar streetlights and fertilizer-blending stations" },
      components: { securitySchemes: { apiKey: { type: "http", scheme: "bearer" } } },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  return app;
}

/** Applies a key's town/station scope: a technician for two towns sees only those towns. */
export function inScope(p: Principal | null, d: { town: string | null; station: string | null }): boolean {
  if (!p) return false;
  if (p.towns && !(d.town !== null && p.towns.includes(d.town))) return false;
  if (p.stations && !(d.station !== null && p.stations.includes(d.station))) return false;
  return true;
}
