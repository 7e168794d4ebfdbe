import mqtt, { type MqttClient } from "mqtt";
import { topics } from "../../devices/index.js";
import type { Pipeline } from "../ingest/pipeline.js";
import type { Logger } from "../platform/log.js";

export type ExternalBrokerOptions = {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  clientId: string;
  protocolVersion: 4 | 5;
  sharedGroup: string;
};

/**
 * An external broker (Mosquitto, EMQX) as a message source. The service keeps a persistent
 * session (clean: false) at QoS 1, so messages published while it is down wait in the broker.
 * mqtt.js sends the PUBACK only after `handleMessage` calls back, which is after the durable
 * accept. With MQTT 5 and a group name it subscribes through `$share/{group}/…` so several
 * instances share the load.
 *
 * Device authentication and topic ACLs are the broker's job in this mode (PROTOCOL.md,
 * "External broker"); the service still validates every message against the registry.
 */
export function createExternalSource(deps: { options: ExternalBrokerOptions; pipeline: Pipeline; log: Logger }) {
  const { options, pipeline, log } = deps;
  let client: MqttClient | null = null;

  const filters = topics
    .serviceFilters()
    .map((f) => (options.protocolVersion === 5 && options.sharedGroup ? `$share/${options.sharedGroup}/${f}` : f));

  return {
    filters,
    isConnected: () => client?.connected === true,
    async start(): Promise<void> {
      const c = mqtt.connect(options.url, {
        clientId: options.clientId,
        clean: false,
        protocolVersion: options.protocolVersion,
        ...(options.username !== undefined ? { username: options.username } : {}),
        ...(options.password !== undefined ? { password: options.password } : {}),
        reconnectPeriod: 2000,
        connectTimeout: 10_000,
        // MQTT 5: keep the session (and its queued messages) for up to a day while the service is down.
        ...(options.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 86_400 } } : {}),
      });
      client = c;
      c.handleMessage = (packet, done) => {
        if (packet.cmd !== "publish") return done();
        const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
        pipeline
          .ingest({ topic: packet.topic, payload, receivedAt: Date.now(), clientId: null, authenticatedAs: null })
          .then((verdict) => {
            // Accepted, or rejected and recorded: either way it is ours now. A full spool leaves it with the broker.
            if (verdict.outcome === "refused" && verdict.reason === "spool_full") throw new Error("the spool is full");
            done();
          })
          .catch((e: unknown) => {
            log.error({ err: e }, "could not record a message; it stays unacknowledged at the broker");
            c.end(true); // without a PUBACK the broker redelivers it on reconnect
            setTimeout(() => c.reconnect(), 1000);
          });
      };
      c.on("error", (e) => log.warn({ err: e.message }, "external broker error"));
      c.on("offline", () => log.warn({ url: options.url }, "external broker unreachable; retrying"));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer from ${options.url} within 10 s`)), 10_000);
        c.once("connect", (connack) => {
          clearTimeout(timer);
          if (!connack.sessionPresent) {
            c.subscribe(filters, { qos: 1 }, (err, granted) => {
              if (err) return reject(err);
              const refused = (granted ?? []).filter((g) => g.qos === 128 || (g.qos as number) > 2);
              if (refused.length > 0) return reject(new Error(`the broker refused: ${refused.map((g) => g.topic).join(", ")}`));
              resolve();
            });
          } else resolve();
        });
      });
      log.info({ url: options.url, filters }, "subscribed to the external broker");
    },
    publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
      if (!client) return Promise.reject(new Error("not connected"));
      const c = client;
      return new Promise((resolve, reject) => c.publish(topic, payload, { qos: 1, retain }, (err) => (err ? reject(err) : resolve())));
    },
    async stop() {
      if (client) await client.endAsync();
    },
  };
}
export type ExternalSource = ReturnType<typeof createExternalSource>;
