import { type Family, topics } from "../../devices/index.js";

/** What either broker offers for sending: a QoS 1 publish. */
export type Publisher = { publish(topic: string, payload: Buffer, retain: boolean): Promise<void> };

/** Sends commands to devices and service messages to subscribers at QoS 1, through whichever broker runs. */
export type CommandBus = {
  command(family: Family, id: string, name: string, body: unknown, opts?: { retain?: boolean }): Promise<void>;
  publish(topic: string, body: unknown, opts: { retain: boolean }): Promise<void>;
};

/**
 * The bus is made before the broker (features need it when they are built; the broker needs the pipeline those
 * features listen to): `attach` connects it once the broker exists. A send before that fails, and says why.
 */
export function createCommandBus(): CommandBus & { attach(source: Publisher): void } {
  let source: Publisher | null = null;
  const send = (topic: string, payload: Buffer, retain: boolean) =>
    source ? source.publish(topic, payload, retain) : Promise.reject(new Error("no broker is running: the message was not sent"));
  return {
    attach: (s) => {
      source = s;
    },
    command: (family, id, name, body, opts) =>
      send(topics.command(family, id, name), Buffer.from(body === "" ? "" : JSON.stringify(body)), opts?.retain ?? false),
    publish: (topic, body, opts) => send(topic, Buffer.from(JSON.stringify(body)), opts.retain),
  };
}
