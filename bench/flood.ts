import { loadavg } from "node:os";
import mqtt from "mqtt";
import { tempDir } from "../harness/helpers.js";
import { startServiceProcess } from "../harness/services.js";
import { hashSecret } from "../src/registry/secrets.js";
import { openStateStore } from "../src/state.js";
import { connectAll, round } from "./load.js";
import { type Phase, startStream } from "./offthread.js";

type Progress = (label: string, n: number, total: number) => void;

const SECRET = "bench-flood-secret-0123456789";
const STORM_ID = "STORM-000000";

/**
 * Issue 16's "bounded cost per client", measured: PUBACK latency of `devices` normal devices publishing QoS 1 at a
 * steady `rate` (in all), while quiet, then during an unauthenticated CONNECT flood (`flood` connections, each sending
 * a CONNECT with a wrong secret again as soon as the last is answered: V8), then during one device id's reconnect storm
 * (`stormClients` clients taking the same id over and over with its right secret: V7), then after it. The service runs
 * in its own process (as `npm start` runs it), so that a stall of its thread cannot stall the load generator too. The
 * target: p99 during the flood and during the storm at most 2× the quiet p99.
 */
export async function benchFlood(opts: { devices: number; rate: number; flood: number; stormClients: number; phaseS: number; progress: Progress }) {
  const { devices: n, rate, phaseS, progress } = opts;
  const dir = tempDir();
  const state = await openStateStore(dir.path);
  const hash = await hashSecret(SECRET);
  await state.db.run(`INSERT INTO devices SELECT 'F-' || lpad(i::VARCHAR, 6, '0'), 'streetlight', NULL, 'town-f', 'village-f', NULL,
    29.2 + (i % 100) * 0.0005, 105.8 + (i // 100) * 0.0005, '{}', '${hash}', false, now(), now() FROM range(${n}) t(i)`);
  await state.db.run(
    `INSERT INTO devices VALUES ('${STORM_ID}', 'streetlight', NULL, 'town-f', 'village-f', NULL, 29.3, 105.9, '{}', '${hash}', false, now(), now())`,
  );
  await state.close();

  const service = await startServiceProcess(dir.path, { AGRILUME_LOG_LEVEL: "error" });
  const url = `mqtt://127.0.0.1:${service.mqtt}`;
  const ids = Array.from({ length: n }, (_, i) => `F-${String(i).padStart(6, "0")}`);
  const clients = await connectAll(
    url,
    ids.map((id) => ({ id, secret: SECRET })),
    (k) => progress("stream devices connected", k, n),
  );
  const stream = startStream(clients, ids, rate);
  await sleep(5000); // warm up

  const phases: (Phase & { attempts?: number; outcomes?: Record<string, number> })[] = [];
  const measure = async (name: string, work: (until: number) => Promise<{ attempts: number; outcomes: Record<string, number> } | undefined>) => {
    const t0 = performance.now();
    const ticker = setInterval(() => progress(name, Math.min(phaseS, Math.round((performance.now() - t0) / 1000)), phaseS), 1000);
    const extra = await work(t0 + phaseS * 1000);
    clearInterval(ticker);
    const t1 = performance.now();
    await sleep(1000); // what was sent during the phase is acknowledged
    phases.push({
      ...stream.between(t0, t1, performance.now()),
      name,
      seconds: round((t1 - t0) / 1000),
      load: round(loadavg()[0] ?? 0),
      ...(extra ?? {}),
    });
    await sleep(2000);
  };

  await measure("quiet", async (until) => {
    await sleep(until - performance.now());
    return undefined;
  });
  await measure(`${opts.flood} connections flooding CONNECTs with wrong secrets`, (until) =>
    loops(opts.flood, until, (i, k) => ({ clientId: `FLOOD-${i}-${k}`, username: `FLOOD-${i}-${k}`, password: "wrong-secret-wrong-secret" }), url),
  );
  await measure(`one id's reconnect storm, ${opts.stormClients} clients`, (until) =>
    loops(opts.stormClients, until, () => ({ clientId: STORM_ID, username: STORM_ID, password: SECRET }), url),
  );
  await measure("after the storm", async (until) => {
    await sleep(until - performance.now());
    return undefined;
  });
  stream.stop();
  for (const c of clients) c.end(true);
  service.child.kill("SIGKILL");
  await service.exited;
  dir.remove();
  const quiet = phases[0]?.p99Ms ?? 0;
  return {
    devices: n,
    rate,
    flood: opts.flood,
    stormClients: opts.stormClients,
    errors: stream.errors(),
    phases: phases.map((p) => ({ ...p, ratio: quiet > 0 ? round(p.p99Ms / quiet) : null })),
  };
}

/**
 * `k` loops until `until`, each connecting with the options `who(loop, attempt)` gives, waiting for the answer, and (if
 * let in) staying until it is closed, or 200 ms, and connecting again; how each attempt ended is counted.
 */
async function loops(k: number, until: number, who: (i: number, attempt: number) => mqtt.IClientOptions, url: string) {
  let attempts = 0;
  const outcomes: Record<string, number> = {};
  const count = (o: string) => {
    outcomes[o] = (outcomes[o] ?? 0) + 1;
  };
  await Promise.all(
    Array.from({ length: k }, async (_, i) => {
      for (let a = 0; performance.now() < until; a++) {
        attempts++;
        try {
          const c = await connectOnce(url, who(i, a));
          count("connected");
          await Promise.race([new Promise<void>((r) => c.once("close", () => r())), sleep(200)]);
          c.end(true);
        } catch (e: unknown) {
          const m = /Bad username or password|Server unavailable|Not authorized|timeout|closed|ECONNRESET/i.exec(String(e));
          count(m ? m[0].toLowerCase() : "other");
        }
      }
    }),
  );
  return { attempts, outcomes };
}

/**
 * One CONNECT and its answer: the client, or why not (refused, closed without an answer, or no answer in 10 s).
 * (`mqtt.connectAsync` waits for ever when the server closes the socket before its CONNACK.)
 */
function connectOnce(url: string, o: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { ...o, reconnectPeriod: 0, connectTimeout: 10_000, clean: true });
    const fail = (why: unknown) => {
      clearTimeout(timer);
      c.end(true);
      reject(why);
    };
    const timer = setTimeout(() => fail(new Error("timeout")), 10_000);
    c.once("connect", () => {
      clearTimeout(timer);
      c.removeAllListeners("error");
      c.on("error", () => undefined);
      resolve(c);
    });
    c.once("error", fail);
    c.once("close", () => fail(new Error("closed")));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** The table's rows: PUBACK p99 in each phase, and its ratio to the quiet p99 against the 2× goal. */
export function floodRows(r: Awaited<ReturnType<typeof benchFlood>>): [string, string, string][] {
  const goal = (i: number) => i === 1 || i === 2; // the flood and the storm
  return r.phases.map((p, i) => [
    `PUBACK p99, ${r.devices} devices at ${r.rate}/s: ${p.name}${goal(i) ? " (goal ≤ 2× quiet)" : ""}`,
    `${p.p99Ms} ms${i === 0 ? "" : ` = ${p.ratio}× quiet`} (p50 ${p.p50Ms}, max ${p.maxMs} ms; ${p.acked}/${p.sent} acked${
      p.attempts
        ? `; ${p.attempts} CONNECTs: ${Object.entries(p.outcomes ?? {})
            .map(([k, v]) => `${v} ${k}`)
            .join(", ")}`
        : ""
    }; load ${p.load})`,
    goal(i) ? ((p.ratio ?? 0) <= 2 ? "✓" : "✗") : "",
  ]);
}
