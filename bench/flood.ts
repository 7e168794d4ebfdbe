import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { tempDir } from "../harness/helpers.js";
import { startServiceProcess } from "../harness/services.js";
import { hashSecret } from "../src/registry/secrets.js";
import { openStateStore } from "../src/state.js";
import { attack } from "./attacker.js";
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
    29.2 + (i % 100) * 0.0005, 105.8 + (i // 100) * 0.0005, '{}', '${hash}', false, now(), now(), NULL FROM range(${n}) t(i)`);
  await state.db.run(
    `INSERT INTO devices VALUES ('${STORM_ID}', 'streetlight', NULL, 'town-f', 'village-f', NULL, 29.3, 105.9, '{}', '${hash}', false, now(), now(), NULL)`,
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

  const phases: (Phase & { attempts?: number; outcomes?: Record<string, number>; serviceCpu: number; generatorLagP99Ms: number })[] = [];
  // The service's CPU (user + system, in cores) over a phase, from /proc; and the load generator's own event-loop delay,
  // which, when it is large, says the generator (which times the PUBACKs) was the one held up.
  const cpuTicks = () => {
    const f = readFileSync(`/proc/${service.child.pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return Number(f[11] ?? 0) + Number(f[12] ?? 0);
  };
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const measure = async (name: string, work: (until: number) => Promise<{ attempts: number; outcomes: Record<string, number> } | undefined>) => {
    const t0 = performance.now();
    const c0 = cpuTicks();
    lag.reset();
    const ticker = setInterval(() => progress(name, Math.min(phaseS, Math.round((performance.now() - t0) / 1000)), phaseS), 1000);
    const extra = await work(t0 + phaseS * 1000);
    clearInterval(ticker);
    const t1 = performance.now();
    const serviceCpu = round((cpuTicks() - c0) / 100 / ((t1 - t0) / 1000));
    const generatorLagP99Ms = round(lag.percentile(99) / 1e6);
    await sleep(1000); // what was sent during the phase is acknowledged
    phases.push({
      ...stream.between(t0, t1, performance.now()),
      name,
      seconds: round((t1 - t0) / 1000),
      load: round(loadavg()[0] ?? 0),
      serviceCpu,
      generatorLagP99Ms,
      ...(extra ?? {}),
    });
    await sleep(2000);
  };

  await measure("quiet", async (until) => {
    await sleep(until - performance.now());
    return undefined;
  });
  await measure(`${opts.flood} connections flooding CONNECTs with wrong secrets`, (until) =>
    attack("flood", opts.flood, (until - performance.now()) / 1000, url, "", SECRET).then(({ attempts, outcomes }) => ({ attempts, outcomes })),
  );
  await measure(`one id's reconnect storm, ${opts.stormClients} clients`, (until) =>
    attack("storm", opts.stormClients, (until - performance.now()) / 1000, url, STORM_ID, SECRET).then(({ attempts, outcomes }) => ({
      attempts,
      outcomes,
    })),
  );
  await measure("after the storm", async (until) => {
    await sleep(until - performance.now());
    return undefined;
  });
  lag.disable();
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
    }; service CPU ${p.serviceCpu} cores; generator loop delay p99 ${p.generatorLagP99Ms} ms; load ${p.load})`,
    goal(i) ? ((p.ratio ?? 0) <= 2 ? "✓" : "✗") : "",
  ]);
}
