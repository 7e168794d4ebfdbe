/** Who may call what: the roles, listed once (the HTTP layer, the OpenAPI document and the console read them here). */
export const ROLES = ["admin", "operator", "finance", "technician", "metrics"] as const;
export type Role = (typeof ROLES)[number];
/** The roles of people at work; `metrics` (a Prometheus scrape key) reaches only GET /metrics. */
export const WORK_ROLES: readonly Role[] = ROLES.filter((r) => r !== "metrics");
