import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { ErrorBodySchema, errors, withExample } from "../http/schemas.js";
import type { Api } from "../http/server.js";
import { DomainError, errorMessage, notFound } from "../platform/errors.js";
import type { EmqxAuth } from "../transport/emqx.js";

/** The header EMQX's HTTP authenticator and authorizer send (docs/brokers/emqx.conf) with AGRILUME_EMQX_AUTH_SECRET. */
export const BROKER_SECRET_HEADER = "x-agrilume-broker-secret";

const Result = withExample(
  z.object({ result: z.enum(["allow", "deny"]), is_superuser: z.literal(false) }),
  { result: "allow", is_superuser: false },
  { id: "EmqxResult", description: "EMQX 5's answer shape: allow or deny; nobody is a superuser" },
);
const text = z.string().max(65_535);
const AuthnBody = withExample(
  z.object({ clientid: text, username: text, password: text, peerhost: text.optional() }),
  { clientid: "YC-LS-0001", username: "YC-LS-0001", password: "s3cr3t-9fKq2LmX7vB4nR8w", peerhost: "10.8.0.17" },
  { description: "EMQX's HTTP authenticator request (body template in docs/brokers/emqx.conf)" },
);
const AuthzBody = withExample(
  z.object({ clientid: text, username: text, action: z.enum(["publish", "subscribe", "all"]), topic: text }),
  { clientid: "YC-LS-0001", username: "YC-LS-0001", action: "publish", topic: "streetlight/YC-LS-0001/telemetry" },
  { description: "EMQX's HTTP authorizer request (body template in docs/brokers/emqx.conf); other fields EMQX sends are ignored" },
);

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * EMQX's HTTP authentication and authorisation endpoints (PROTOCOL.md §7, "Behind EMQX"). They take no API key: EMQX
 * sends the shared secret AGRILUME_EMQX_AUTH_SECRET in `x-agrilume-broker-secret`; without it (or when the setting is
 * unset, as when the service runs its own broker) they answer 401 (404), which EMQX treats as "ignore" — never allow.
 */
export function brokerRoutes(app: Api, deps: { emqx: EmqxAuth; authSecret: string | undefined }) {
  const guard = async (req: FastifyRequest) => {
    if (!deps.authSecret) throw notFound("route", `${req.method} ${req.url.split("?")[0]}`);
    const given = req.headers[BROKER_SECRET_HEADER];
    if (typeof given !== "string" || !timingSafeEqual(digest(given), digest(deps.authSecret))) {
      throw new DomainError("unauthorized", errorMessage("unauthorized", {}));
    }
  };
  app.post(
    "/api/v1/broker/emqx/authn",
    {
      config: { roles: "public", touches: "public" },
      onRequest: guard,
      schema: {
        tags: ["broker"],
        operationId: "emqxAuthenticate",
        security: [{ brokerSecret: [] }],
        summary: "EMQX's HTTP authenticator: may this client connect?",
        description:
          "Called by EMQX on each CONNECT, with the shared secret in `x-agrilume-broker-secret` (no API key). A device: client id = username = its id, its current secret, enabled. The service: AGRILUME_MQTT_USERNAME / _PASSWORD. Failed secret checks from one `peerhost` are limited as the embedded broker limits them.",
        body: AuthnBody,
        response: { 200: Result, 401: ErrorBodySchema, ...errors(404) },
      },
    },
    async (req) => {
      const { why: _why, ...answer } = await deps.emqx.authenticate(req.body);
      return answer;
    },
  );
  app.post(
    "/api/v1/broker/emqx/authz",
    {
      config: { roles: "public", touches: "public" },
      onRequest: guard,
      schema: {
        tags: ["broker"],
        operationId: "emqxAuthorize",
        security: [{ brokerSecret: [] }],
        summary: "EMQX's HTTP authorizer: may this client publish or subscribe here?",
        description:
          "Called by EMQX on each publish and subscribe it has not cached, with the shared secret in `x-agrilume-broker-secret`. A device publishes only its own uplink topics and subscribes only to its own commands; the service reads every uplink and publishes commands, alerts and station topics.",
        body: AuthzBody,
        response: { 200: Result, 401: ErrorBodySchema, ...errors(404) },
      },
    },
    async (req) => {
      const { why: _why, ...answer } = deps.emqx.authorize(req.body);
      return answer;
    },
  );
}
