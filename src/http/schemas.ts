import { z } from "zod";

/**
 * What every route's OpenAPI description shares: the error body, times, files and live streams, and examples that
 * are checked against their schema when the module loads (a wrong example stops the service at start, so the
 * document cannot show one). Each feature declares its own response schemas beside its routes.
 */

/** Attaches an OpenAPI example (and, with `id`, a component name) to a schema, once the example is known to parse. */
export function withExample<T extends z.ZodType>(schema: T, example: z.input<T>, meta: { id?: string; description?: string } = {}): T {
  const parsed = schema.safeParse(example);
  if (!parsed.success) throw new Error(`the example${meta.id ? ` of ${meta.id}` : ""} does not match its schema:\n${z.prettifyError(parsed.error)}`);
  return schema.meta({ ...meta, examples: [example] });
}

/** Instants are ISO 8601 in UTC, as `Date.toISOString()` writes them. */
export const IsoTime = z.iso.datetime();
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

type ErrorStatus = 404 | 409 | 422;
/** The error answers a route can give beyond the ones every route shares (400, 401 and 403 are added by the server). */
export function errors<S extends ErrorStatus>(...statuses: S[]): Record<S, typeof ErrorBodySchema> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBodySchema])) as Record<S, typeof ErrorBodySchema>;
}

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

/**
 * A Server-Sent Events stream. OpenAPI 3.0 cannot describe a stream of events, so the schema given is that of each
 * event's `data` (JSON); the description names the events.
 */
export const eventStream = <T extends z.ZodType>(description: string, data: T) => ({
  description,
  content: { "text/event-stream": { schema: data } },
});
