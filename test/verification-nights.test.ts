import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../harness/helpers.js";
import { openStateStore, type StateStore } from "../src/state.js";
import type { NightRecord } from "../src/streetlights/nightly.js";
import { nightStore } from "../src/streetlights/store.js";

/** Issue 20 #1: which nights verification counts as lit (DOMAIN.md: lit for at least 80 % of the night's window). */
describe("nights verification counts as lit", () => {
  const dir = tempDir();
  let state: StateStore;
  beforeAll(async () => {
    state = await openStateStore(dir.path);
  });
  afterAll(async () => {
    await state.close();
    dir.remove();
  });
  const night = (deviceId: string, day: number, classification: NightRecord["classification"], litShare: number): NightRecord => ({
    deviceId,
    date: `2026-11-${String(day).padStart(2, "0")}`,
    dusk: "2026-11-01T10:00:00.000Z",
    dawn: "2026-11-01T22:30:00.000Z",
    expectedMin: 750,
    litMin: Math.round(750 * litShare),
    coveredMin: 740,
    loadWh: 300,
    pvWhDayBefore: 400,
    switchOns: classification === "cycling" ? 7 : 1,
    classification,
    flags: [],
    lastTs: "2026-11-01T22:00:00.000Z",
    gps: null,
  });

  it("a light that blinks (cycling) but is lit over 80 % of the night counts that night; one lit half the night does not", async () => {
    const nights = nightStore(state.db);
    await nights.write([
      // lit 90–92 % of each window with 7 switch-ons on 26 nights, dark on 4: the red team's light (verified: ≥ 25 of 30)
      ...Array.from({ length: 26 }, (_, i) => night("BLINK", i + 1, "cycling", 0.91)),
      ...Array.from({ length: 4 }, (_, i) => night("BLINK", i + 27, "dark", 0)),
      // cycling and lit only half of each night: not lit
      ...Array.from({ length: 30 }, (_, i) => night("HALF", i + 1, "cycling", 0.5)),
      ...Array.from({ length: 30 }, (_, i) => night("STEADY", i + 1, "lit", 0.95)),
    ]);
    const byId = new Map((await nights.summary("2026-11-01", "2026-11-30", 100)).map((w) => [w.deviceId, w.litNights]));
    expect(Object.fromEntries(byId)).toEqual({ BLINK: 26, HALF: 0, STEADY: 30 });
  });
});
