/** Who may call what: the roles, listed once (the HTTP layer, the OpenAPI document and the console read them here). */
export const ROLES = ["admin", "operator", "finance", "technician"] as const;
export type Role = (typeof ROLES)[number];
