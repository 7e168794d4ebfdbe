import { pino } from "pino";

export type Logger = pino.Logger;

/** Structured JSON logs on stderr; `info` is quiet: start-up, shutdown and state changes, never per message. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "agrilume" } }, pino.destination({ dest: 2, sync: false }));
}
