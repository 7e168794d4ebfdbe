import type { FastifySchema, RouteOptions } from "fastify";
import { z } from "zod";
import { parseChinaTime } from "../platform/clock.js";

/**
 * The API contract's shared part: the error body, times, files and live streams, examples checked against their
 * schema when the module loads (a wrong example stops the service at start, so the document cannot show one), the
 * check every route passes at start, and the finishing of the OpenAPI document. Each feature declares its own
 * response schemas beside its routes.
 */

/** Attaches an OpenAPI example (and, with `id`, a component name) to a schema, once the example is known to parse. */
export function withExample<T extends z.ZodType>(schema: T, example: z.input<T>, meta: { id?: string; description?: string } = {}): T {
  const parsed = schema.safeParse(example);
  if (!parsed.success) throw new Error(`the example${meta.id ? ` of ${meta.id}` : ""} does not match its schema:\n${z.prettifyError(parsed.error)}`);
  return schema.meta({ ...meta, examples: [example] });
}

/** Instants are ISO 8601 in UTC, as `Date.toISOString()` writes them. */
export const IsoTime = z.iso.datetime();
/** A time in a query string (`from`, `to`): parseChinaTime's forms, as a Date. */
export const QueryTime = z
  .string()
  .transform((s, ctx) => {
    const ms = parseChinaTime(s);
    if (Number.isFinite(ms)) return new Date(ms);
    ctx.addIssue({ code: "custom", message: "hint_time" });
    return z.NEVER;
  })
  .meta({
    description:
      "ISO 8601. A date alone is 00:00 China time that day (`2026-11-01`); a time without a zone is China time (`2026-11-01T08:00`); with a zone, that instant (`2026-11-01T00:00:00Z`)",
    examples: ["2026-11-01", "2026-11-01T08:00", "2026-11-01T00:00:00Z"],
  });
/**
 * An id in a path (an alert's, a channel's, a silence's, a key's…): 1–100 characters, none of them a control character
 * (a NUL or a newline is never part of an id we make, and has no business reaching a store or a log line; V13).
 */
export const Id = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[^\p{Cc}]*$/u, "hint_id");
export const IdParam = z.object({ id: Id });
/** A calendar date (China time where it names a night or a due date). */
export const DateOnly = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

export const ErrorBodySchema = withExample(
  z.object({
    error: z.looseObject({
      /** Stable: clients branch on it. */
      code: z.string(),
      /** In the reader's language (Accept-Language). */
      message: z.string(),
      params: z.record(z.string(), z.unknown()).optional(),
      details: z.unknown().optional(),
    }),
  }),
  { error: { code: "not_found", message: "未找到: device YC-LS-0001" } },
  {
    id: "Error",
    description:
      "An error: `code` is stable (`validation`, `unauthorized`, `forbidden`, `not_found`, `conflict`, …), `message` is in the reader's language; some errors add `params` or `details` (for example the rows of a rejected import)",
  },
);

type ErrorStatus = 403 | 404 | 409 | 422 | 429 | 503;
/** The error answers a route can give beyond the ones routes share (400, 401 and 403: `documentRoute` adds them). */
export function errors<S extends ErrorStatus>(...statuses: S[]): Record<S, typeof ErrorBodySchema> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBodySchema])) as Record<S, typeof ErrorBodySchema>;
}

/** A message's code (stable: clients may branch on it) beside the text it was rendered to. */
export const MessageCode = z.string();
/** A message's parameters (the figures its text was written from). */
export const MessageParams = z.record(z.string(), z.unknown());

/** No body (204). */
export const NoContent = z.undefined().describe("Done; no body");

export const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/** A CSV file's media type (UTF-8 with BOM, so Excel reads the Chinese headers). */
export const csvContent = (example: string) => ({ "text/csv": { schema: withExample(z.string(), example) } });
export const csvFile = (description: string, example: string) => ({ description, content: csvContent(example) });

/** An XLSX workbook. */
export const xlsxFile = (description: string) => ({
  description,
  content: { [XLSX_TYPE]: { schema: z.instanceof(Buffer).meta({ type: "string", format: "binary" }) } },
});
/** An image answered as its bytes: a JPEG or a PNG (a work order's photo, a visit's photo or signature). */
export const imageFile = (description: string) => ({
  description,
  content: {
    "image/jpeg": { schema: z.instanceof(Buffer).meta({ type: "string", format: "binary" }) },
    "image/png": { schema: z.instanceof(Buffer).meta({ type: "string", format: "binary" }) },
  },
});

/**
 * A Server-Sent Events stream. OpenAPI 3.1 cannot describe a stream of events (3.2's `itemSchema` can), so the
 * schema given is that of each event's `data` (JSON); the description names the events.
 */
export const eventStream = <T extends z.ZodType>(description: string, data: T) => ({
  description,
  content: { "text/event-stream": { schema: data } },
});

type DocumentedSchema = FastifySchema & {
  hide?: boolean;
  operationId?: string;
  description?: string;
  security?: Record<string, string[]>[];
  response?: Record<string, unknown>;
};

/**
 * Every route the OpenAPI document shows says what it is (`operationId`, `description`) and what it answers (a 2xx
 * schema); the service refuses to start otherwise. What routes share comes from the route's own settings, here,
 * so none can leave it out: public routes need no key; the others answer 401 and 403; a route with inputs answers 400.
 */
export function documentRoute(route: RouteOptions) {
  const schema = route.schema as DocumentedSchema | undefined;
  if (schema?.hide) return;
  const where = `route ${route.method} ${route.url}`;
  if (!schema?.operationId) throw new Error(`${where} declares no operationId`);
  if (!schema.description) throw new Error(`${where} declares no description`);
  const response = { ...schema.response };
  if (!Object.keys(response).some((status) => /^2\d\d$/.test(status))) throw new Error(`${where} declares no 2xx response schema`);
  const roles = route.config?.roles;
  const isPublic = !roles || roles === "public";
  if (!isPublic) {
    response[401] ??= ErrorBodySchema;
    response[403] ??= ErrorBodySchema;
  }
  if (schema.body || schema.querystring || schema.params) response[400] ??= ErrorBodySchema;
  // (no security for public routes; the document's default, a bearer key or a session cookie, for the others, and `?key=` where it is taken)
  // (a public route may name a check of its own, as EMQX's endpoints do: src/fleet/broker-routes.ts)
  const security = isPublic ? (schema.security ?? []) : route.config?.queryKey ? [{ apiKey: [] }, { session: [] }, { queryKey: [] }] : undefined;
  route.schema = { ...schema, response, ...(security ? { security } : {}) };
}

/** zod's registry holds every named schema, in its input and its output form: the document keeps those its routes use, by name. */
function withoutUnusedSchemas<T extends object>(doc: T): T {
  const components = (doc as { components?: { schemas?: Record<string, unknown> } }).components;
  const all = components?.schemas ?? {};
  const used = new Set<string>();
  const visit = (value: unknown) => {
    for (const m of (JSON.stringify(value) ?? "").matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      const name = m[1] as string;
      if (used.has(name)) continue;
      used.add(name);
      visit(all[name]);
    }
  };
  visit({ ...doc, components: { ...components, schemas: {} } });
  // (by name: the registry's order is the order modules happened to load in)
  const kept = Object.entries(all)
    .filter(([name]) => used.has(name))
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return { ...doc, components: { ...components, schemas: Object.fromEntries(kept) } };
}

/** What each error status means, wherever it is answered. */
const ERROR_MEANINGS: Record<string, string> = {
  400: "The request cannot be read or does not match the schema (`validation`: `details` lists each problem)",
  401: "No key or session, or a key or session not in force",
  403: "The key's role, or its towns or stations, do not allow this",
  404: "Not found, or outside the key's towns or stations",
  409: "Conflicts with what exists",
  422: "Understood, but it cannot be done: the message says why",
  429: "Too many attempts: wait as long as Retry-After says",
};

/** The document as @fastify/swagger made it, finished: the named schemas its routes use, and every answer described. */
export const finishDocument = <T extends object>(doc: T): T => describeResponses(withoutUnusedSchemas(doc));

/**
 * @fastify/swagger names a response "Default Response" unless its schema carries a description, which a named
 * component's does only once the components are in the document: they are taken from there, and errors are said
 * once here.
 */
function describeResponses<T extends object>(doc: T): T {
  type Response = { description?: string; content?: Record<string, { schema?: { $ref?: string } }> };
  const d = doc as {
    paths?: Record<string, Record<string, { responses?: Record<string, Response> }>>;
    components?: { schemas?: Record<string, { description?: string }> };
  };
  for (const operations of Object.values(d.paths ?? {}))
    for (const op of Object.values(operations))
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        if (response.description !== "Default Response") continue;
        const ref = Object.values(response.content ?? {})[0]?.schema?.$ref?.replace("#/components/schemas/", "");
        const described = ref === "Error" ? ERROR_MEANINGS[status] : ref ? d.components?.schemas?.[ref]?.description : undefined;
        if (described) response.description = described;
      }
  return doc;
}
