import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { type AddressInfo, createServer, type Server } from "node:net";
import type { Duplex } from "node:stream";
import { createServer as createTlsServer } from "node:tls";
import { Aedes, type Client } from "aedes";
import { createWebSocketStream, WebSocketServer } from "ws";
import { type Family, type ParsedTopic, parseTopic, topics } from "../../devices/index.js";
import type { InboundMessage, Verdict } from "../ingest/message.js";
import type { Pipeline } from "../ingest/pipeline.js";
import type { Presence } from "../ingest/presence.js";
import type { Logger } from "../platform/log.js";
import type { Metrics } from "../platform/metrics.js";
import type { Registry } from "../registry/registry.js";
import { createBuckets, createGate } from "./auth-limiter.js";

/** The device a connection authenticated as; set in `authenticate`, read in every hook after it. */
const DEVICE = Symbol("agrilume.device");
/** The topic a connection last published on, parsed: a device publishes on the same few topics again and again. */
const LAST_TOPIC = Symbol("agrilume.lastTopic");
/** The address a connection came from (TCP, TLS or WebSocket), for the per-source authentication budget. */
const SOURCE = Symbol("agrilume.source");
type DeviceClient = Client & {
  [DEVICE]?: { id: string; family: Family };
  [LAST_TOPIC]?: { topic: string; parsed: ParsedTopic };
  [SOURCE]?: string;
};

/** Slow credential checks at once (libuv's pool has 4 threads, which the write-ahead log's writes share), and waiting. */
const AUTH_CONCURRENT = 2;
const AUTH_QUEUE = 256;
/** CONNECTs one device id may make a minute: a device reconnects a few times an hour, a fight over one id thousands of times. */
const CONNECTS_PER_DEVICE_PER_MINUTE = 12;

/** CONNACK return codes, MQTT 3.1.1 §3.2.2.3 */
const CONNACK = { IDENTIFIER_REJECTED: 2, SERVER_UNAVAILABLE: 3, BAD_CREDENTIALS: 4, NOT_AUTHORIZED: 5 } as const;

export type EmbeddedBrokerOptions = {
  host: string;
  port: number;
  wsPort?: number | undefined;
  tls?: { port: number; certFile: string; keyFile: string } | undefined;
  maxPacketBytes: number;
  banMs: number;
  authPerSourcePerMinute: number;
  /** How long a refused CONNECT waits for its answer (0: at once). */
  refuseDelayMs: number;
};

/** Refused CONNECTs held back at once (each a socket and a timer); past this a refusal is answered at once. */
export const REFUSALS_HELD_MAX = 2000;

/**
 * The embedded MQTT broker (aedes) as a message source.
 *
 * aedes writes a QoS 1 PUBACK before its `published` hook runs, but only after
 * `authorizePublish` calls back. So the whole ingest (validation and the durable write) runs
 * inside `authorizePublish`: the PUBACK leaves only once the message is on disk.
 */
export async function createEmbeddedBroker(deps: {
  options: EmbeddedBrokerOptions;
  registry: Registry;
  pipeline: Pipeline;
  presence: Presence;
  metrics: Metrics;
  log: Logger;
}) {
  const { options, registry, pipeline, presence, metrics, log } = deps;
  /** Devices throttled for bad messages (registered ones: only they publish), until their next connect after the ban. */
  const banned = new Map<string, number>();
  const authBudget = createBuckets({ perMinute: options.authPerSourcePerMinute });
  const slowChecks = createGate({ concurrent: AUTH_CONCURRENT, queue: AUTH_QUEUE });
  // One entry per device id that connected in the last minute (bounded by the registry: counted after authentication).
  const reconnects = createBuckets({ perMinute: CONNECTS_PER_DEVICE_PER_MINUTE });
  /** Ids warned about in their current storm (one log line per storm; bounded by the registry). */
  const stormLogged = new Set<string>();
  /** One per connected device. */
  const connections = new Map<string, DeviceClient>();
  /** Refusals waiting for their answer (see `refuse`). */
  const held = new Set<NodeJS.Timeout>();

  const broker = await Aedes.createBroker({
    id: "agrilume",
    maxClientsIdLength: 64, // device ids are up to 64 characters
    maxTopicLevels: 8, // our topics have 3 or 4 levels; deeper ones are refused before routing
    drainTimeout: 10_000, // a frozen client is dropped instead of stalling delivery to others
    concurrency: 1000,
    connectTimeout: 10_000,
  });

  broker.authenticate = (client, username, password, done) => {
    const refuse = (code: number, reason: string) => {
      metrics.refused.inc({ reason });
      const err = Object.assign(new Error(reason), { returnCode: code });
      // A refusal is answered after a pause, as a login form answers a wrong password: a client that connects again as
      // soon as it is answered (a guesser, a flood, a misconfigured device, one id fought over by many clients) then
      // costs a CONNECT a second per connection instead of thousands, and a real device retries as it would anyway.
      // If the client goes away meanwhile, aedes drops the late answer.
      if (options.refuseDelayMs <= 0 || held.size >= REFUSALS_HELD_MAX) return done(err as never, false);
      const t = setTimeout(() => {
        held.delete(t);
        done(err as never, false);
      }, options.refuseDelayMs);
      held.add(t);
    };
    if (!username || !password) return refuse(CONNACK.BAD_CREDENTIALS, "no_credentials");
    const until = banned.get(username);
    if (until !== undefined) {
      if (Date.now() < until) return refuse(CONNACK.SERVER_UNAVAILABLE, "banned");
      banned.delete(username);
    }
    // Client id = device id, so one device cannot take over another's session.
    if (client.id !== username) return refuse(CONNACK.IDENTIFIER_REJECTED, "client_id_mismatch");
    const secret = password.toString("utf8");
    // A secret not proved since start costs a scrypt: only within the source's budget of failed checks (the token is
    // given back when the secret is right) and the bound on slow checks.
    const slow = !registry.provedBefore(username, secret);
    const source = (client as DeviceClient)[SOURCE] ?? "unknown";
    if (slow && !authBudget.take(source)) return refuse(CONNACK.SERVER_UNAVAILABLE, "auth_throttled");
    (slow ? slowChecks.run(() => registry.authenticate(username, secret)) : registry.authenticate(username, secret)).then(
      (result) => {
        if (slow && (result === null || result.ok)) authBudget.give(source);
        if (result === null) return refuse(CONNACK.SERVER_UNAVAILABLE, "auth_throttled");
        if (!result.ok) return refuse(result.reason === "disabled" ? CONNACK.NOT_AUTHORIZED : CONNACK.BAD_CREDENTIALS, result.reason);
        // The session in place stays; the newcomer is refused (a storm of takeovers would churn presence and the stores).
        if (!reconnects.take(result.device.id)) {
          if (!stormLogged.has(result.device.id)) {
            stormLogged.add(result.device.id);
            log.warn(
              { deviceId: result.device.id, perMinute: CONNECTS_PER_DEVICE_PER_MINUTE },
              "a device id connects too often; refusing its connects for now",
            );
          }
          return refuse(CONNACK.SERVER_UNAVAILABLE, "reconnect_storm");
        }
        stormLogged.delete(result.device.id);
        (client as DeviceClient)[DEVICE] = { id: result.device.id, family: result.device.family };
        done(null, true);
      },
      (e: unknown) => {
        log.error({ err: e }, "authentication failed");
        refuse(CONNACK.SERVER_UNAVAILABLE, "auth_error");
      },
    );
  };

  broker.authorizePublish = (client, packet, done) => {
    const device = (client as DeviceClient | null)?.[DEVICE];
    if (!client || !device) return done(new Error("not authenticated"));
    const last = (client as DeviceClient)[LAST_TOPIC];
    let parsed: ParsedTopic;
    if (last?.topic === packet.topic) parsed = last.parsed;
    else {
      parsed = parseTopic(packet.topic);
      (client as DeviceClient)[LAST_TOPIC] = { topic: packet.topic, parsed };
    }
    // Only the status topic is retained (it doubles as the last will); nothing else may fill broker memory.
    if (!(parsed.ok && parsed.kind === "status")) packet.retain = false;
    const msg: InboundMessage = {
      topic: packet.topic,
      // The parser's own buffer: nothing keeps it past the pipeline (the log and a rejected payload's kept bytes copy it).
      payload: typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload,
      receivedAt: Date.now(),
      clientId: client.id,
      authenticatedAs: device.id,
      parsedTopic: parsed,
    };
    try {
      // (an anonymous callback: under tsx a named one is renamed by a helper each time it is made)
      pipeline.receive(msg, (e, verdict) => answer(device.id, done, e, verdict, parsed.ok && parsed.kind === "cmd"));
    } catch (e: unknown) {
      answer(device.id, done, e); // a bug, not the device's doing: the connection closes and the device sends the message again
    }
  };

  /** Tells aedes what became of a message: acknowledge it, or close the connection without acknowledging. */
  const answer = (deviceId: string, done: (error?: Error | null) => void, e: unknown, verdict?: Verdict, command = false) => {
    if (e !== undefined || !verdict) {
      // Not durable, so not acknowledged: the device will send it again.
      log.error({ err: e }, "could not record a message; connection closed so the device retries");
      return done(e as Error);
    }
    // A device's publish on a command topic is recorded as a reject, and never routed: acknowledging it would deliver it
    // to subscribers of that topic, the device itself among them (issue 16, V13).
    if (verdict.outcome === "rejected" && command) return done(new Error(verdict.reason));
    if (verdict.outcome !== "refused") return done(null);
    if (verdict.reason === "throttled") {
      banned.set(deviceId, Date.now() + options.banMs);
      log.warn({ deviceId, banMs: options.banMs }, "device disconnected for sending too many bad messages");
    }
    done(new Error(verdict.reason)); // aedes closes the connection; MQTT 3.1.1 has no negative PUBACK
  };

  broker.authorizeSubscribe = (client, sub, done) => {
    const device = (client as DeviceClient)[DEVICE];
    if (device && mayRead(device, sub.topic)) return done(null, sub);
    metrics.refused.inc({ reason: "subscribe_not_own" });
    done(null, null); // SUBACK 0x80: refused
  };

  /** A device reads only its own commands; a blending machine also its station's order progress (for its display). */
  const mayRead = (device: { id: string; family: Family }, filter: string): boolean => {
    const within = (prefix: string) =>
      filter === `${prefix}#` || (filter.startsWith(prefix) && !filter.includes("#") && !filter.slice(prefix.length).includes("/"));
    if (within(topics.commandFilter(device.family, device.id).slice(0, -1))) return true;
    const station = device.family === "blender" ? registry.get(device.id)?.station : null;
    return (
      !!station && (filter === topics.stationFilter(station) || (filter.startsWith(topics.stationOrdersPrefix(station)) && !filter.includes("#")))
    );
  };

  broker.on("client", (client) => {
    const device = (client as DeviceClient)[DEVICE];
    if (!device) return;
    connections.set(device.id, client as DeviceClient);
    metrics.connected.set(connections.size);
    presence.connected(device.id, Date.now());
  });
  broker.on("subscribe", (subs, client) => {
    const device = client ? (client as DeviceClient)[DEVICE] : undefined;
    if (device && connections.get(device.id) === client)
      presence.subscribed(
        device.id,
        subs.map((s) => s.topic),
      );
  });
  broker.on("clientDisconnect", (client) => {
    const device = (client as DeviceClient)[DEVICE];
    if (!device || connections.get(device.id) !== client) return;
    connections.delete(device.id);
    metrics.connected.set(connections.size);
    presence.disconnected(device.id, Date.now());
  });
  broker.on("clientError", (client, err) => log.debug({ clientId: client.id, err: err.message }, "client error"));
  broker.on("connectionError", (client, err) => log.debug({ clientId: client?.id, err: err.message }, "connection error"));

  /** Closes a connection whose next packet announces more than maxPacketBytes, before buffering it. */
  const handle = (conn: Duplex, source: string | undefined) => {
    const client = broker.handle(conn) as unknown as {
      _parser: { _parseLength: () => boolean; packet: { length: number } };
      [SOURCE]?: string;
    };
    client[SOURCE] = source ?? "unknown";
    const parser = client._parser;
    const parseLength = parser._parseLength;
    parser._parseLength = function guarded(this: typeof parser) {
      const ok = parseLength.call(this);
      if (ok && this.packet.length > options.maxPacketBytes) {
        metrics.refused.inc({ reason: "packet_too_large" });
        conn.destroy();
        return false;
      }
      return ok;
    };
  };

  const servers: (Server | HttpServer)[] = [];
  const ports: { mqtt?: number; ws?: number; tls?: number } = {};
  const listen = (server: Server | HttpServer, port: number, host: string) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });

  return {
    broker,
    ports,
    isConnected: (id: string) => connections.has(id),
    /** Publishes from the service at QoS 1 (commands to devices, progress for displays). */
    publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
      return new Promise((resolve, reject) =>
        broker.publish({ cmd: "publish", topic, payload, qos: 1, retain, dup: false }, (err) => (err ? reject(err) : resolve())),
      );
    },
    disconnect(id: string) {
      connections.get(id)?.close();
    },
    async start() {
      const tcp = createServer((socket) => handle(socket, socket.remoteAddress));
      servers.push(tcp);
      ports.mqtt = await listen(tcp, options.port, options.host);
      if (options.tls) {
        const tlsServer = createTlsServer({ cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }, (socket) =>
          handle(socket, socket.remoteAddress),
        );
        servers.push(tlsServer);
        ports.tls = await listen(tlsServer, options.tls.port, options.host);
      }
      if (options.wsPort !== undefined) {
        const http = createHttpServer((_req, res) => res.writeHead(426, { "content-type": "text/plain" }).end("MQTT over WebSocket only\n"));
        const wss = new WebSocketServer({
          server: http,
          handleProtocols: (protocols) => (protocols.has("mqtt") ? "mqtt" : false),
          // A frame larger than the largest MQTT packet is refused from its header (close 1009), before it is buffered:
          // ws's own default would buffer 100 MiB per client (issue 16, V11). Frames carry a little framing overhead.
          maxPayload: options.maxPacketBytes + 1024,
        });
        wss.on("connection", (ws, req) => handle(createWebSocketStream(ws), req.socket.remoteAddress));
        servers.push(http);
        ports.ws = await listen(http, options.wsPort, options.host);
      }
      return ports;
    },
    /** Stops accepting connections, then closes the broker (which disconnects every client). */
    async stop() {
      for (const t of held) clearTimeout(t);
      held.clear();
      // Stop listening first; a server's close completes only once its connections are gone, so close those next.
      const listening = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of servers) if ("closeAllConnections" in s) s.closeAllConnections();
      await listening;
    },
  };
}
export type EmbeddedBroker = Awaited<ReturnType<typeof createEmbeddedBroker>>;
