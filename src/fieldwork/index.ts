/** Field work's interface for other features: the figures a district manager reads (the morning digest). */

export type { FieldFigures } from "./figures.js";
export type { WorkOrder } from "./service.js";
