/** The v1 device contract: what devices send and receive. PROTOCOL.md is written from this folder. */
export * from "./blender.js";
export * from "./decode.js";
export * from "./ids.js";
export * from "./status.js";
export * from "./streetlight.js";
export * from "./time.js";
export * from "./topics.js";
export const CONTRACT_VERSION = 1;
