import { loadavg } from "node:os";
import { WINTER_DIMMING } from "../devices/index.js";
import { ADMIN_KEY, tempDir } from "../harness/helpers.js";
import { startServiceProcess } from "../harness/services.js";
import { newControlState, obeyCommands } from "../simulators/obey.js";
import { hashSecret } from "../src/registry/secrets.js";
import { openStateStore } from "../src/state.js";
import { connectAll, round } from "./load.js";
import { startStream } from "./offthread.js";

type Progress = (label: string, n: number, total: number) => void;
const SECRET = "bench-campaign-secret-0123456789";

/**
 * Issue 22's campaign benchmark: a profile campaign to `lights` lights (every one a v1.1 controller that answers, on its
 * own MQTT connection) while `streamDevices` of them report at `streamRate` readings a second in all (the district's
 * 18,105 lights every 300 s are 60.4 a second). Measures the time until every light was sent its command and until every
 * answer was recorded, at AGRILUME_CONTROL_RATE_PER_S = `ratePerS`, and the readings' PUBACK p99 before and during the
 * campaign. The service runs in its own process, as `npm start` runs it.
 */
export async function benchCampaign(opts: { lights: number; ratePerS: number; streamDevices: number; streamRate: number; progress: Progress }) {
  const { lights: n, progress } = opts;
  const dir = tempDir();
  const state = await openStateStore(dir.path);
  const hash = await hashSecret(SECRET);
  await state.db.run(`INSERT INTO devices SELECT 'C-' || lpad(i::VARCHAR, 6, '0'), 'streetlight', NULL, 'town-c', 'village-c', NULL,
    29.2 + (i % 100) * 0.0005, 105.8 + (i // 100) * 0.0005, '{"lampW":30}', '${hash}', false, now(), now(), NULL FROM range(${n}) t(i)`);
  await state.close();
  const service = await startServiceProcess(dir.path, { AGRILUME_LOG_LEVEL: "error", AGRILUME_CONTROL_RATE_PER_S: String(opts.ratePerS) });
  // (the service's last words, should it die: a bench that stops says why)
  let serviceErr = "";
  service.child.stderr?.on("data", (d: Buffer) => {
    serviceErr = (serviceErr + d.toString()).slice(-4000);
  });
  let serviceExit: number | null | undefined;
  service.exited.then(
    (code) => {
      serviceExit = code;
    },
    () => {
      serviceExit = null;
    },
  );
  const url = `mqtt://127.0.0.1:${service.mqtt}`;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${service.http}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    });
  const ids = Array.from({ length: n }, (_, i) => `C-${String(i).padStart(6, "0")}`);
  const t0Connect = performance.now();
  const clients = await connectAll(
    url,
    ids.map((id) => ({ id, secret: SECRET })),
    (k) => progress("lights connected", k, n),
  );
  const connectS = round((performance.now() - t0Connect) / 1000);
  let answered = 0;
  for (const [i, c] of clients.entries()) await obeyCommands(c, ids[i] ?? "", newControlState(), { onAnswer: () => answered++ });
  const streamN = Math.min(opts.streamDevices, n);
  const stream = startStream(clients.slice(0, streamN), ids.slice(0, streamN), opts.streamRate);
  await sleep(5000); // warm up
  const q0 = performance.now();
  await sleep(10_000);
  const q1 = performance.now();

  const c0 = performance.now();
  const res = await api("/api/v1/control/campaigns", {
    method: "POST",
    body: JSON.stringify({
      name: "bench",
      target: { town: "town-c" },
      command: {
        name: "profile",
        profile: WINTER_DIMMING,
      },
    }),
  });
  if (res.status !== 201) throw new Error(`campaign: ${res.status} ${await res.text()}`);
  const createdS = round((performance.now() - c0) / 1000);
  const { id } = (await res.json()) as { id: string };
  let sentAllS: number | null = null;
  let appliedAllS: number | null = null;
  let counts: Record<string, number> = {};
  const limit = performance.now() + (n / opts.ratePerS) * 1000 * 3 + 60_000;
  let pollErrors = 0;
  while (performance.now() < limit) {
    try {
      const res = await api(`/api/v1/control/campaigns/${id}`);
      if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
      counts = ((await res.json()) as { counts: Record<string, number> }).counts;
    } catch (e: unknown) {
      // a poll refused or cut under load is counted and tried again; a service that died ends the bench, saying why
      pollErrors++;
      if (serviceExit !== undefined) throw new Error(`the service exited (${serviceExit}) during the campaign:\n${serviceErr}`);
      if (pollErrors === 1 || pollErrors % 20 === 0) process.stderr.write(`\npoll failed (${pollErrors}): ${String(e)}\n`);
      await sleep(500);
      continue;
    }
    progress("campaign: applied", counts.applied ?? 0, n);
    if (sentAllS === null && (counts.sent ?? 0) >= n) sentAllS = round((performance.now() - c0) / 1000);
    if ((counts.applied ?? 0) >= n) {
      appliedAllS = round((performance.now() - c0) / 1000);
      break;
    }
    await sleep(500);
  }
  const c1 = performance.now();
  await sleep(1000);
  const quiet = stream.between(q0, q1, performance.now());
  const during = stream.between(c0, c1, performance.now());
  stream.stop();
  for (const c of clients) c.end(true);
  service.child.kill("SIGKILL");
  await service.exited;
  dir.remove();
  return {
    lights: n,
    ratePerS: opts.ratePerS,
    streamRate: opts.streamRate,
    connectS,
    createS: createdS,
    sentAllS,
    appliedAllS,
    answeredByLights: answered,
    pollErrors,
    counts,
    quiet,
    during,
    load: round(loadavg()[0] ?? 0),
    errors: stream.errors(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

export function campaignRows(r: Awaited<ReturnType<typeof benchCampaign>>): [string, string, string][] {
  const floor = Math.ceil(r.lights / r.ratePerS);
  return [
    [
      `campaign to ${r.lights.toLocaleString()} lights at ${r.ratePerS}/s: recorded, all sent, all applied (the rate's floor: ${floor} s)`,
      `${r.createS} s, ${r.sentAllS ?? "not all"} s, ${r.appliedAllS ?? "not all"} s (${r.counts.applied ?? 0} applied, ${r.answeredByLights} answers)`,
      r.appliedAllS !== null ? "✓" : "✗",
    ],
    [
      `ingest PUBACK p99 at ${r.streamRate}/s: before → during the campaign (target ≤ 2×)`,
      `${r.quiet.p99Ms} → ${r.during.p99Ms} ms (p50 ${r.quiet.p50Ms} → ${r.during.p50Ms}; ${r.during.acked}/${r.during.sent} acked; load ${r.load})`,
      r.during.p99Ms <= 2 * Math.max(r.quiet.p99Ms, 1) ? "✓" : "✗",
    ],
  ];
}
