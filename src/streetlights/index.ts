/**
 * What other features may use of streetlights (the structure rules allow no other import): the nightly records the
 * digest and the finance verification read, and the distance between two positions.
 */
export { distanceM } from "./expectation.js";
export type { LightWindow, NightStore } from "./store.js";
