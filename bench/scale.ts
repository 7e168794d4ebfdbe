import { readFileSync } from "node:fs";
import { tempDir } from "../harness/helpers.js";
import { startServiceProcess } from "../harness/services.js";
import { createBlending } from "../src/blending/service.js";
import { blendingStore } from "../src/blending/store.js";
import { createPresence } from "../src/ingest/presence.js";
import { createRegistry } from "../src/registry/registry.js";
import { openStateStore } from "../src/state.js";
import { localDate } from "../src/streetlights/expectation.js";
import { nightStore } from "../src/streetlights/store.js";
import { createVerification, windowDates } from "../src/verification/service.js";
import { verificationStore } from "../src/verification/store.js";
import { pctile, round } from "./load.js";

type Progress = (label: string, n: number, total: number) => void;
const gc = () => (globalThis as { gc?: () => void }).gc?.();

/** Inserts `n` lights straight into the state store (registration's slow hash is not what is measured here). */
async function seedLights(state: Awaited<ReturnType<typeof openStateStore>>, n: number) {
  await state.db.run(`INSERT INTO devices SELECT 'YC-' || lpad(i::VARCHAR, 7, '0'), 'streetlight', NULL, 'town-' || (i % 23)::VARCHAR, 'village-' || (i // 100)::VARCHAR, NULL,
    29.35 + (i % 1000) * 0.0005, 105.93 + (i // 1000) * 0.0005, '{"lampW":30,"panelWp":120,"batteryAh":60}', 'scrypt$4096$c2FsdA$aGFzaA', false, now() - INTERVAL 60 DAY, now() - INTERVAL 60 DAY, NULL FROM range(${n}) t(i)`);
}

/** Memory of a registry of `n` lights, and the cost of one presence sweep over all of them online. */
export async function benchRegistry(n: number, progress: Progress) {
  const dir = tempDir();
  const state = await openStateStore(dir.path);
  await seedLights(state, n);
  progress("seeded", n, n);
  gc();
  const before = process.memoryUsage();
  const registry = await createRegistry(state.devices);
  const presence = createPresence({
    timeoutMs: { streetlight: 900_000, blender: 30_000 },
    familyOf: (id) => registry.get(id)?.family,
    record: async () => undefined,
    onError: () => undefined,
  });
  const t = Date.now();
  let i = 0;
  for (const d of registry.list({})) {
    presence.connected(d.id, t);
    if (++i % 100_000 === 0) progress("online", i, n);
  }
  gc();
  const after = process.memoryUsage();
  const sweeps: number[] = [];
  for (let k = 0; k < 5; k++) {
    const s = performance.now();
    presence.sweep(t + 60_000);
    sweeps.push(performance.now() - s);
  }
  const out = {
    devices: registry.size(),
    heapMB: Math.round((after.heapUsed - before.heapUsed) / 1e6),
    rssMB: Math.round(after.rss / 1e6),
    sweepMs: pctile(sweeps, 0.5),
  };
  await state.close();
  dir.remove();
  return out;
}

/**
 * The service itself (its entry `src/bin.ts` through tsx, in its own process, as `npm start` runs it compiled) with `n` lights in its
 * registry: resident memory once it is ready and through its first periodic passes (gauges, the first
 * nightly pass at 10 s), peak and last, read from /proc.
 */
export async function benchRegistryService(n: number, progress: Progress, watchS = 20) {
  const dir = tempDir();
  const state = await openStateStore(dir.path);
  await seedLights(state, n);
  await state.close();
  progress("seeded", n, n);
  const started = performance.now();
  const { child, exited } = await startServiceProcess(dir.path, { AGRILUME_LOG_LEVEL: "error" });
  const readyS = (performance.now() - started) / 1000;
  const status = () => readFileSync(`/proc/${child.pid}/status`, "utf8");
  const kb = (text: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0);
  let last = 0;
  for (let i = 1; i <= watchS; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    last = kb(status(), "VmRSS");
    progress("service running", i, watchS);
  }
  const peak = kb(status(), "VmHWM");
  child.kill("SIGTERM");
  await exited;
  dir.remove();
  return { devices: n, readyS: round(readyS), rssMB: Math.round(last / 1024), peakRssMB: Math.round(peak / 1024) };
}

/**
 * DOMAIN.md's district for the verification report, straight into the state store: `lights` lights, each claimed (one
 * project per 100) with a nightly record for each of the `nights` nights before today (95 % of them lit). Returns `until`.
 */
export async function seedDistrict(state: Awaited<ReturnType<typeof openStateStore>>, lights: number, nights: number): Promise<string> {
  await seedLights(state, lights);
  const until = localDate(Date.now());
  const dates = windowDates(until, nights);
  // one record per light per night, 95 % of nights lit, straight into the nights table
  const window = dates.map((d, j) => `('${d}', ${j + 1})`).join(", ");
  await state.db.run(`INSERT INTO nights SELECT 'YC-' || lpad(i::VARCHAR, 7, '0'), w.d, CASE WHEN (i + w.j) % 20 = 0 THEN 'dark' ELSE 'lit' END, 400,
      epoch_ms(now())::BIGINT - (${nights} - w.j)::BIGINT * 86400000, 29.35 + (i % 1000) * 0.0005, 105.93 + (i // 1000) * 0.0005, '{}'
    FROM range(${lights}) t(i), (VALUES ${window}) w(d, j)`);
  await state.db.run(`INSERT INTO projects SELECT 'P-' || (i // 100)::VARCHAR, json_object('id', 'P-' || (i // 100)::VARCHAR, 'town', 'town-' || (i % 23)::VARCHAR, 'village', 'village-' || (i // 100)::VARCHAR, 'road', '', 'year', 2025, 'approvedLights', 100, 'subsidyYuan', 2700)
    FROM range(0, ${lights}, 100) t(i)`);
  await state.db.run(`INSERT INTO claims SELECT 'YC-' || lpad(i::VARCHAR, 7, '0'), 'P-' || (i // 100)::VARCHAR, json_object('deviceId', 'YC-' || lpad(i::VARCHAR, 7, '0'), 'projectId', 'P-' || (i // 100)::VARCHAR,
      'lat', 29.35 + (i % 1000) * 0.0005, 'lon', 105.93 + (i // 1000) * 0.0005, 'controllerSerial', 'SN' || i::VARCHAR, 'imei', (860000000000000 + i)::VARCHAR, 'installedAt', '2025-06-01')
    FROM range(${lights}) t(i)`);
  return until;
}

/** The verification report for the district (18,105 lights × 30 nights) and order progress query latency. */
export async function benchReports(progress: Progress) {
  const LIGHTS = 18_105;
  const NIGHTS = 30;
  const dir = tempDir();
  const state = await openStateStore(dir.path);
  const until = await seedDistrict(state, LIGHTS, NIGHTS);
  progress("seeded", LIGHTS, LIGHTS);
  const registry = await createRegistry(state.devices);
  const verification = createVerification({
    store: verificationStore(state.db),
    nights: nightStore(state.db),
    registry,
    settings: { locationM: 15, duplicatePoleM: 10, litNightsShare: 25 / 30, pvDaysShare: 0.8, pvWh: 20, silentH: 72, samplePct: 10 },
  });
  const runs: number[] = [];
  let verified = 0;
  for (let k = 0; k < 3; k++) {
    const s = performance.now();
    const r = await verification.report({ until, nights: NIGHTS }, "json", "bench", "made");
    runs.push(performance.now() - s);
    verified = r.summary.verified;
  }
  // order progress: a 300 t order with 300 batch records
  const store = blendingStore(state.db);
  const bus = { command: async () => undefined, publish: async () => undefined };
  const blending = await createBlending({ store, registry, bus, clock: Date.now });
  await blending.putStation({ id: "qj", name: "qj" });
  const f = await blending.saveFormula({ name: "f", grade: "15-15-15" });
  const o = await blending.createOrder({
    station: "qj",
    customer: "c",
    crop: "rice",
    formulaId: f.id,
    targetT: 300,
    bagKg: 50,
    batchKg: 1000,
    dueDate: "2099-01-01",
  });
  const now = Date.now();
  await store.writeBatches(
    Array.from({ length: 300 }, (_, i) => ({
      machineId: "M1",
      batchId: `B${i}`,
      orderId: o.id,
      state: "complete" as const,
      startedAt: now - (300 - i) * 300_000,
      endedAt: now - (300 - i) * 300_000 + 240_000,
      targetKg: { urea: 257.1, map: 288.5, kcl: 250, filler: 204.4 },
      actualKg: { urea: 257.1, map: 288.5, kcl: 250, filler: 204.4 },
      bags: 20,
      heldCount: 0,
      events: [],
      evaluation: null,
    })),
    1,
  );
  const lat: number[] = [];
  for (let k = 0; k < 100; k++) {
    const s = performance.now();
    await blending.progress(o.id, await store.batchesOf(o.id));
    lat.push(performance.now() - s);
  }
  await state.close();
  dir.remove();
  return {
    lights: LIGHTS,
    nights: NIGHTS,
    verified,
    verificationMs: Math.round(pctile(runs, 0.5)),
    verificationRunsMs: runs.map((x) => round(x, 0)),
    progressP50Ms: pctile(lat, 0.5),
    progressP99Ms: pctile(lat, 0.99),
  };
}
