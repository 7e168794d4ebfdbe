/**
 * The v1 device contract: what devices send and receive. PROTOCOL.md is written from this folder. What it finds wrong is
 * data, never a sentence: reject problems are codes with figures, and the schemas' own explanations are message codes
 * (`hint_…`); the service words both for people (src/ingest/messages.ts).
 */
export * from "./blender.js";
export * from "./control.js";
export * from "./decode.js";
export * from "./ids.js";
export * from "./status.js";
export * from "./streetlight.js";
export * from "./time.js";
export * from "./topics.js";
/** 1.1: commands to streetlights and their acknowledgements (devices/control.ts), backward compatible with 1. */
export const CONTRACT_VERSION = 1.1;
