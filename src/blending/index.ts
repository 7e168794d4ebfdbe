/** What other features may use of blending (the structure rules allow no other import): a station's live conditions, for alerts. */
export type { Condition } from "./monitor.js";
