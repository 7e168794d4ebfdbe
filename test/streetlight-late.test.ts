import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, registerLight, startTestApp, type TestApp } from "../harness/helpers.js";
import { newPhysics, streetlightReading } from "../simulators/streetlight.js";
import { DEFAULT_PROFILE, localDate, nightOf } from "../src/streetlights/expectation.js";

describe("a light that sends its buffer late", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());

  it("gets its nightly record computed again when the rest of the night arrives", async () => {
    const spec = { id: "LATE-1", lat: 29.3512, lon: 105.9113, lampW: 30, panelWp: 120, batteryAh: 60 };
    const creds = await registerLight(t, spec.id, { lat: spec.lat, lon: spec.lon });
    const date = localDate(Date.now() - 3 * 86_400_000); // three nights ago: long over
    const n = nightOf(date, spec.lat, spec.lon, DEFAULT_PROFILE);
    const physics = newPhysics(spec);
    const readings = [];
    for (let ts = n.dusk - 2 * 3600_000; ts <= n.dawn + 3600_000; ts += 5 * 60_000) readings.push(streetlightReading(spec, physics, ts, 300));
    const client = await connectDevice(t, creds);
    const firstHour = readings.filter((r) => r.ts < n.dusk + 3600_000);
    for (const r of firstHour) await publish(client, "streetlight/LATE-1/telemetry", JSON.stringify(r));
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    await t.app.streetlights.runNightly();
    const night = async () =>
      (
        (await (await t.api(`/api/v1/streetlights/LATE-1/nights?from=${date}&to=${date}`)).json()) as {
          nights: { classification: string; litMin: number }[];
        }
      ).nights[0];
    expect(await night()).toMatchObject({ classification: "offline" }); // an hour of data is not a night

    for (const r of readings.filter((x) => x.ts >= n.dusk + 3600_000)) await publish(client, "streetlight/LATE-1/telemetry", JSON.stringify(r));
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    await t.app.streetlights.runNightly(); // (unless the service's own pass 10 s after its start just did: the night below says)
    const after = await night();
    expect(after?.classification).toBe("lit");
    expect(after?.litMin).toBeGreaterThan(600);
    client.end();
  });
});

describe("a nightly pass that runs while a light's buffer is still on its way to the store", () => {
  const spec = { id: "BUF-1", lat: 29.3512, lon: 105.9113, lampW: 30, panelWp: 120, batteryAh: 60 };
  const date = localDate(Date.now() - 5 * 86_400_000); // older than the nights the job looks back over by itself: only the buffer brings it
  const n = nightOf(date, spec.lat, spec.lon, DEFAULT_PROFILE);
  const physics = newPhysics(spec);
  const readings: ReturnType<typeof streetlightReading>[] = [];
  for (let ts = n.dusk - 2 * 3600_000; ts <= n.dawn + 3600_000; ts += 5 * 60_000) readings.push(streetlightReading(spec, physics, ts, 300));
  let t: TestApp;
  beforeAll(async () => {
    // The store is written when a batch of the night's readings and one more is full (the flush timer, a minute, never comes first).
    t = await startTestApp({ AGRILUME_STORE_BATCH_SIZE: String(readings.length + 1), AGRILUME_STORE_FLUSH_MS: "60000" });
  });
  afterAll(() => t.stop());

  it("computes the night once the store holds the readings the pass could not yet read", async () => {
    const creds = await registerLight(t, spec.id, { lat: spec.lat, lon: spec.lon });
    const client = await connectDevice(t, creds);
    for (const r of readings) await publish(client, "streetlight/BUF-1/telemetry", JSON.stringify(r));
    expect(Math.min(...Object.values(t.app.writer.checkpoints()))).toBeLessThan(t.app.wal.lastSeq()); // accepted, not yet stored
    await t.app.streetlights.runNightly();
    // The next afternoon's reading (it belongs to the next night, so it marks nothing to redo here) fills the batch: stored.
    const afternoon = streetlightReading(spec, physics, n.dawn + 6 * 3600_000, 300);
    await publish(client, "streetlight/BUF-1/telemetry", JSON.stringify(afternoon));
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    await t.app.streetlights.runNightly();
    const res = await t.api(`/api/v1/streetlights/BUF-1/nights?from=${date}&to=${date}`);
    const { nights } = (await res.json()) as { nights: { classification: string; litMin: number }[] };
    expect(nights).toMatchObject([{ classification: "lit" }]);
    client.end();
  });
});

describe("lighting profiles", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());

  it("a light registered with dimming stages and dusk plus N hours is expected accordingly", async () => {
    const profile = {
      mode: "dusk_plus",
      hours: 6,
      stages: [
        { afterDuskH: 0, pct: 100 },
        { afterDuskH: 4, pct: 50 },
      ],
    };
    await registerLight(t, "PROF-1", { profile });
    const light = (await (await t.api("/api/v1/streetlights/PROF-1")).json()) as {
      profile: unknown;
      expected: { night: { dusk: string; litUntil: string } | null };
    };
    expect(light.profile).toEqual(profile);
    const n = nightOf(localDate(Date.now()), 29.3512, 105.9113, { mode: "dusk_plus", hours: 6, stages: [] });
    expect(n.end - n.dusk).toBe(6 * 3600_000);
    const bad = await t.api("/api/v1/devices", {
      method: "POST",
      body: JSON.stringify({ id: "PROF-2", family: "streetlight", town: "t", lat: 29, lon: 105, profile: { mode: "sometimes" } }),
    });
    expect(bad.status).toBe(400);
  });
});
