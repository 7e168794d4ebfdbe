import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { Principal } from "../access/api-keys.js";
import type { AuditedRequest, Authenticate } from "../access/authenticate.js";
import { type Role, WORK_ROLES } from "../access/roles.js";
import { type Access, scopeError, type Touches } from "../access/scope.js";
import { DomainError, errorMessage, notFound } from "../platform/errors.js";
import { type Catalogue, type Lang, langFromHeader, type Message } from "../platform/i18n.js";
import type { Logger } from "../platform/log.js";
import { issueMessage, type Where } from "../platform/validation.js";
import { WorkerJobError } from "../platform/workers.js";
import { BUSY_RETRY_AFTER_S, httpMessage, STATUS } from "./errors.js";
import { fileBody } from "./file-body.js";
import { documentRoute, finishDocument } from "./schemas.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call the route; every route must say. */
    roles?: readonly Role[] | "public";
    /** What the route touches, for the access owner (src/access/scope.ts); every route with roles must say. */
    touches?: Touches;
    /** Also accept the key as `?key=` (Server-Sent Events for machines; browsers send the session cookie instead). */
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

/** Fastify's own refusals of a body, by its error code. */
const BAD_REQUEST: Record<string, "json" | "empty_json" | "content_length"> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "json",
  FST_ERR_CTP_EMPTY_JSON_BODY: "empty_json",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "content_length",
};

/** Every role of people at work (routes any signed-in caller may use; not `metrics`, which reaches only /metrics). */
export const ALL_ROLES: readonly Role[] = WORK_ROLES;

export async function createHttpServer(deps: {
  log: Logger;
  /** Who calls: a bearer key or a session cookie (src/access/authenticate.ts). */
  authenticate: Authenticate;
  /** Told of every answered request (the audit log keeps the changes). */
  audit?: (r: AuditedRequest) => void;
  lang: Lang;
  trustProxy: boolean;
  /** A whole request (headers and body) must arrive within this; a connection idle for twice this is closed. */
  requestTimeoutMs: number;
  /** Renders every error's message in the caller's language (src/messages.ts). */
  messages: Catalogue;
  /** The one access owner: applies each route's declared scope before its handler runs. */
  access: Access;
}): Promise<Api> {
  const { messages } = deps;
  const app = Fastify({
    loggerInstance: deps.log,
    // Quiet by default: errors are logged, requests are not.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: deps.trustProxy,
    bodyLimit: 8 * 1024 * 1024,
    // A client that sends its body slowly (or never, after a 401) holds a socket and its buffer only this long (V12).
    requestTimeout: deps.requestTimeoutMs,
    connectionTimeout: 2 * deps.requestTimeoutMs,
    // On stop, close every connection, live streams (SSE) included, instead of waiting for clients to leave.
    forceCloseConnections: true,
    // A request Node's parser refuses (a URL with raw UTF-8 such as ?town=仙龙镇 pasted into curl, broken headers) gets
    // the same JSON error as every other, in the service's language (no header was readable), then the connection closes.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      if (err.code === "ECONNRESET" || !socket.writable) return void socket.destroy();
      const timeout = err.code === "ERR_HTTP_REQUEST_TIMEOUT";
      const reason = err.code === "HPE_INVALID_URL" ? "url" : "other";
      const message = timeout ? httpMessage("request_timeout", {}) : httpMessage("bad_request", { reason });
      const text = JSON.stringify({ error: { code: message.code, message: messages.render(deps.lang, message), params: message.params } });
      socket.end(
        `HTTP/1.1 ${timeout ? "408 Request Timeout" : "400 Bad Request"}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest("principal", null);
  app.decorateRequest("lang", deps.lang);
  const bodyLimit = app.initialConfig.bodyLimit ?? 1048576;

  // CSV bodies stay bytes, read chunk by chunk (`fileBody`): the import routes move them to a worker thread as they
  // are, and the file's encoding is the file's to tell, not this parser's.
  app.addContentTypeParser(["text/csv", "text/plain"], fileBody(bodyLimit));

  /** The reader's language: `?lang=` where a client cannot set headers (EventSource), else Accept-Language, else AGRILUME_LANG. */
  const lang = (req: FastifyRequest): Lang => {
    const asked = (req.query as { lang?: unknown } | undefined)?.lang;
    return asked === "zh" || asked === "en" ? asked : langFromHeader(req.headers["accept-language"], deps.lang);
  };

  app.addHook("onRoute", (route) => {
    const roles = route.config?.roles;
    if (route.url.startsWith("/api/") && !roles) throw new Error(`route ${route.method} ${route.url} declares no roles`);
    if (roles) {
      const touches = route.config?.touches ?? (roles === "public" ? "public" : undefined);
      if (!touches) throw new Error(`route ${route.method} ${route.url} declares no scope (config.touches)`);
      for (const method of [route.method].flat()) if (method !== "HEAD") deps.access.declare({ method, url: route.url, roles, touches });
    }
    documentRoute(route);
  });
  app.addHook("onRequest", async (req) => {
    req.lang = lang(req);
    const roles = req.routeOptions.config?.roles;
    if (!roles || roles === "public") return;
    const queryKey = req.routeOptions.config?.queryKey ? (req.query as { key?: unknown }).key : undefined;
    const principal = deps.authenticate({
      method: req.method,
      route: req.routeOptions.url ?? "",
      headers: req.headers,
      queryKey: typeof queryKey === "string" ? queryKey : undefined,
    });
    if (!principal) throw new DomainError("unauthorized", errorMessage("unauthorized", {}));
    // (known before the role is checked: the audit log names who was refused)
    req.principal = principal;
    if (!roles.includes(principal.role)) throw new DomainError("forbidden", errorMessage("forbidden", { roles }));
  });
  app.addHook("onResponse", async (req, reply) => {
    deps.audit?.({
      method: req.method,
      route: req.routeOptions.url,
      principal: req.principal,
      params: req.params,
      body: req.body,
      ip: req.ip,
      status: reply.statusCode,
    });
  });
  // Scope, once the request is parsed: the object the route touches must be within the caller's towns and stations.
  app.addHook("preHandler", async (req) => {
    const touches = req.routeOptions.config?.touches;
    if (!touches || !req.principal) return;
    const refusal = await deps.access.check(touches, req.principal, req);
    if (refusal) throw scopeError(refusal);
  });

  // The one error handler: a domain error's kind gives the status, its message is rendered in the caller's language;
  // clients get `{error: {code, message, params?, details?}}`, never a stack trace.
  const body = (req: FastifyRequest, m: Message, details?: unknown) => ({
    error: {
      code: m.code,
      message: messages.render(lang(req), m),
      ...(Object.keys(m.params).length > 0 ? { params: m.params } : {}),
      ...(details !== undefined ? { details } : {}),
    },
  });
  /** What fastify itself refused before a route ran. */
  const refused = (req: FastifyRequest, status: number, err: unknown): Message => {
    if (status === 404) return errorMessage("not_found", { what: "route", id: `${req.method} ${req.url.split("?")[0]}` });
    if (status === 413) return httpMessage("payload_too_large", { limitBytes: req.routeOptions.bodyLimit ?? bodyLimit }); // (an import's own)
    if (status === 415) return httpMessage("unsupported_media_type", { type: String(req.headers["content-type"] ?? "") });
    const code = String((err as { code?: unknown }).code ?? "");
    return httpMessage("bad_request", { reason: err instanceof SyntaxError ? "json" : (BAD_REQUEST[code] ?? "other") });
  };
  app.setErrorHandler((err, req, reply) => {
    // Refused before its body arrived (a 401 to an upload, say): close once answered, so a client that never finishes
    // the body does not hold the connection (V12).
    if (!req.raw.complete) reply.header("connection", "close");
    if (err instanceof DomainError) {
      const render = messages.in(lang(req));
      const details = typeof err.details === "function" ? err.details(render) : err.details;
      if (err.kind === "unavailable") reply.header("retry-after", String(BUSY_RETRY_AFTER_S));
      return reply.status(STATUS[err.kind]).send(body(req, err.detail, details));
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = (err.validationContext ?? "body") as Where;
      const problems = err.validation.map((v) => issueMessage(v, where));
      return reply.status(400).send(body(req, errorMessage("validation", { problems })));
    }
    if (err instanceof WorkerJobError && err.canRetry) {
      // the worker threads' queue is full (src/platform/workers.ts): a moment later there is room
      return reply
        .status(503)
        .header("retry-after", String(BUSY_RETRY_AFTER_S))
        .send(body(req, httpMessage("busy", { retryAfterS: BUSY_RETRY_AFTER_S })));
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err, url: req.url }, "request failed");
      return reply.status(500).send(body(req, httpMessage("internal", {})));
    }
    return reply.status(status).send(body(req, refused(req, status, err)));
  });
  app.setNotFoundHandler((req, reply) => {
    const e = notFound("route", `${req.method} ${req.url.split("?")[0]}`);
    return reply.status(STATUS[e.kind]).send(body(req, e.detail));
  });

  await app.register(swagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema 2020-12, which says what 3.0 cannot (positional arrays, null as a type)
      openapi: "3.1.0",
      info: { title: "Agrilume API", version: "1.0.0", description: "Telemetry for solar streetlights and fertilizer-blending stations" },
      components: {
        securitySchemes: {
          apiKey: { type: "http", scheme: "bearer" },
          brokerSecret: {
            type: "apiKey",
            in: "header",
            name: "x-agrilume-broker-secret",
            description: "EMQX's HTTP authenticator and authorizer only: the shared secret AGRILUME_EMQX_AUTH_SECRET (PROTOCOL.md §7)",
          },
          queryKey: {
            type: "apiKey",
            in: "query",
            name: "key",
            description: "For Server-Sent Events read by machines (browsers send the session cookie)",
          },
          session: {
            type: "apiKey",
            in: "cookie",
            name: "agrilume_session",
            description: "People: POST /api/v1/session sets it; writes also send its CSRF token in the x-csrf-token header",
          },
        },
      },
      security: [{ apiKey: [] }, { session: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (doc) => finishDocument(jsonSchemaTransformObject(doc)),
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  return app;
}
