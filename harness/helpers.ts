/**
 * The harness: the service and the real parts it talks to (brokers, stores, devices, webhook receivers), started on
 * free ports in temporary directories. Tests and benchmarks both use it; nothing in src/ may.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { type App, createApp, type Started } from "../src/app.js";
import { loadConfig } from "../src/platform/config.js";
import { createLogger } from "../src/platform/log.js";

export const ADMIN_KEY = "test-admin-key-0123456789abcdef";

/** When set (CI does), a test that needs a missing service fails instead of skipping. */
export const REQUIRE_SERVICES = process.env.AGRILUME_REQUIRE_SERVICES === "1";

export function tempDir(prefix = "agrilume-test-"): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export type TestApp = {
  app: App;
  started: Started;
  dataDir: string;
  api: (path: string, init?: RequestInit & { key?: string | null }) => Promise<Response>;
  stop: () => Promise<void>;
};

/** The real service on free ports with a fresh data dir. */
export async function startTestApp(env: Record<string, string> = {}, dataDir?: string, deps: { clock?: () => number } = {}): Promise<TestApp> {
  const dir = dataDir ? { path: dataDir, remove: () => undefined } : tempDir();
  const result = loadConfig({
    AGRILUME_DATA_DIR: dir.path,
    AGRILUME_HTTP_HOST: "127.0.0.1",
    AGRILUME_HTTP_PORT: "0",
    AGRILUME_MQTT_HOST: "127.0.0.1",
    AGRILUME_MQTT_PORT: "0",
    AGRILUME_ADMIN_KEY: ADMIN_KEY,
    AGRILUME_LOG_LEVEL: "silent",
    AGRILUME_STORE_FLUSH_MS: "20",
    ...env,
  });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const app = await createApp(result.config, { log: createLogger(result.config.log.level), clock: deps.clock ?? Date.now });
  const started = await app.start();
  const api = (path: string, init: RequestInit & { key?: string | null } = {}) => {
    const { key = ADMIN_KEY, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (key) headers.set("authorization", `Bearer ${key}`);
    if (rest.body && !headers.has("content-type")) headers.set("content-type", "application/json");
    return fetch(`${started.httpUrl}${path}`, { ...rest, headers });
  };
  return {
    app,
    started,
    dataDir: dir.path,
    api,
    stop: async () => {
      await app.stop();
      dir.remove();
    },
  };
}

export async function registerLight(t: TestApp, id: string, extra: Record<string, unknown> = {}): Promise<{ id: string; secret: string }> {
  const res = await t.api("/api/v1/devices", {
    method: "POST",
    body: JSON.stringify({ id, family: "streetlight", town: "来苏镇", village: "梳妆台村", lat: 29.3512, lon: 105.9113, lampW: 30, ...extra }),
  });
  if (res.status !== 201) throw new Error(`register ${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; secret: string };
}

export function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  client.setMaxListeners(10_000); // publish() below watches "close" once per message in flight
  return new Promise((resolve, reject) => {
    client.once("connect", () => resolve(client));
    client.once("error", (e) => {
      client.end(true);
      reject(e);
    });
    client.once("close", () => reject(new Error("closed before CONNACK")));
  });
}

export function connectDevice(t: TestApp, creds: { id: string; secret: string }, extra: IClientOptions = {}) {
  return connect(t.started.mqttUrl ?? "", { clientId: creds.id, username: creds.id, password: creds.secret, ...extra });
}

export function reading(ts: number, overrides: Record<string, unknown> = {}) {
  return {
    ts,
    pv: { v: 0.4, a: 0, w: 0 },
    battery: { v: 12.9, soc: 78, tempC: 14.5 },
    load: { on: true, w: 29.6, a: 2.31, dimPct: 100 },
    energyToday: { pvWh: 410, loadWh: 35 },
    faults: [],
    gps: { lat: 29.3512, lon: 105.9113, accM: 3 },
    ...overrides,
  };
}

/** Publishes at QoS 1 and resolves on PUBACK; rejects if the connection closes first. */
export function publish(client: MqttClient, topic: string, payload: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error("connection closed before PUBACK"));
    client.once("close", onClose);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      client.off("close", onClose);
      if (err) reject(err);
      else resolve();
    });
  });
}

export async function waitUntil<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve();
    client.once("close", () => resolve());
  });
}

/** Reads a Server-Sent Events response, handing each event's JSON data to `onEvent`, until the stream ends or is aborted. */
export async function readSse(res: Response, onEvent: (data: unknown) => void): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk);
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const data = buf
          .slice(0, i)
          .split("\n")
          .find((l) => l.startsWith("data: "));
        buf = buf.slice(i + 2);
        if (data) onEvent(JSON.parse(data.slice(6)));
      }
    }
  } catch {
    // aborted by the test
  }
}

export type Received = { path: string; headers: Record<string, string | string[] | undefined>; body: string; query: URLSearchParams };

/** A real local HTTP receiver (webhooks, robots): records every request; `respond` may answer otherwise than 200. */
export async function startReceiver(respond?: (r: Received) => { status: number; body?: string } | undefined) {
  const { createServer } = await import("node:http");
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "http://x");
      const r: Received = { path: u.pathname, headers: req.headers, body, query: u.searchParams };
      const answer = respond?.(r);
      if (answer && answer.status >= 300) {
        res.writeHead(answer.status).end(answer.body ?? "");
        return;
      }
      got.push(r);
      res.writeHead(200, { "content-type": "application/json" }).end(answer?.body ?? "");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return { url, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * The Qijiang blending station with one machine, registered through the API, the machine connected with its own
 * credentials and listening on `topics`; what it receives lands in `inbox`.
 */
export async function startStation(
  t: TestApp,
  opts: { station: string; machineId: string; name?: string; topics: string[] },
): Promise<{ machine: MqttClient; inbox: { topic: string; body: string }[] }> {
  const post = (path: string, body: unknown) => t.api(path, { method: "POST", body: JSON.stringify(body) });
  const st = await post("/api/v1/stations", { id: opts.station, name: "綦江智能配肥站" });
  if (st.status !== 201) throw new Error(`station: ${st.status} ${await st.text()}`);
  const reg = await post("/api/v1/devices", {
    id: opts.machineId,
    family: "blender",
    town: "綦江区",
    station: opts.station,
    ...(opts.name ? { name: opts.name } : {}),
    hopperMaterials: ["urea", "map", "kcl", "filler"],
  });
  if (reg.status !== 201) throw new Error(`machine: ${reg.status} ${await reg.text()}`);
  const creds = (await reg.json()) as { id: string; secret: string };
  const machine = await connect(t.started.mqttUrl ?? "", { clientId: creds.id, username: creds.id, password: creds.secret });
  const inbox: { topic: string; body: string }[] = [];
  machine.on("message", (topic, payload) => inbox.push({ topic, body: payload.toString() }));
  await machine.subscribeAsync(opts.topics, { qos: 1 });
  return { machine, inbox };
}

/**
 * A person's account as an admin makes it (with a first password someone else chose) and as its owner then has it:
 * signed in once and the password changed to `password`, as the console's first sign-in asks. Returns its name and password.
 */
export async function personWithPassword(
  t: TestApp,
  account: { name: string; password: string; role: string; towns?: readonly string[]; stations?: readonly string[] },
): Promise<{ name: string; password: string }> {
  const { password, ...rest } = account;
  const first = "first-password-0";
  const made = await t.api("/api/v1/users", { method: "POST", body: JSON.stringify({ ...rest, password: first }) });
  if (made.status !== 201) throw new Error(`the account ${account.name} was not made: ${made.status} ${await made.text()}`);
  const signedIn = await t.api("/api/v1/session", { key: null, method: "POST", body: JSON.stringify({ name: account.name, password: first }) });
  const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
  const { csrfToken } = (await signedIn.json()) as { csrfToken: string };
  const changed = await t.api("/api/v1/me/password", {
    key: null,
    method: "POST",
    headers: { cookie, "x-csrf-token": csrfToken },
    body: JSON.stringify({ currentPassword: first, newPassword: password }),
  });
  if (changed.status !== 204) throw new Error(`the password of ${account.name} was not changed: ${changed.status} ${await changed.text()}`);
  return { name: account.name, password };
}
