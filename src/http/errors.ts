import type { MessageKey } from "../platform/i18n.js";

/** An API error with a stable code; the handler in server.ts turns it into `{error:{code, message, details?}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly messageKey: MessageKey,
    readonly detail?: string,
    readonly details?: unknown,
  ) {
    super(detail ?? code);
  }
}
export const notFound = (what: string) => new ApiError(404, "not_found", "error.not_found", what);
export const conflict = (what: string, details?: unknown) => new ApiError(409, "conflict", "error.conflict", what, details);
export const invalid = (what: string, details?: unknown) => new ApiError(422, "validation", "error.validation", what, details);
