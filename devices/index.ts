/**
 * The v1 device contract: what devices send and receive. PROTOCOL.md is written from this folder. What it finds wrong is
 * data, never a sentence: reject problems are codes with figures, and the schemas' own explanations are message codes
 * (`hint_…`); the service words both for people (src/ingest/messages.ts).
 */
export * from "./blender.js";
export * from "./decode.js";
export * from "./ids.js";
export * from "./status.js";
export * from "./streetlight.js";
export * from "./time.js";
export * from "./topics.js";
export const CONTRACT_VERSION = 1;
