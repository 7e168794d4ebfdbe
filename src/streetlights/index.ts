/**
 * What other features may use of streetlights (the structure rules allow no other import): the nightly records the
 * digest and the finance verification read, the distance between two positions, and the words for a night's class.
 */
export { distanceM } from "./expectation.js";
export { streetlightMessage } from "./messages.js";
export type { NightClass } from "./nightly.js";
export { type LightWindow, lightWindows, type NightStore } from "./store.js";
