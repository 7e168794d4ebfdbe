import { afterAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../harness/helpers.js";

/**
 * The main thread's garbage collections in /metrics (`agrilume_gc_pause_seconds`): what tells a stall of PUBACKs that
 * the accept histogram does not explain (docs/BENCHMARKS.md). Recorded from start() until stop(), and no longer.
 */
describe("garbage collections in /metrics", () => {
  let t: TestApp | undefined;
  afterAll(() => t?.stop());

  /** Makes short-lived garbage until the young generation has been collected at least once more than `than`. */
  const collectMinor = async (count: () => Promise<number>, than: number) => {
    let keep: unknown[] = [];
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 50_000; i++) keep.push({ i, s: `x${i}` });
      keep = [];
      await new Promise((r) => setImmediate(r)); // the observer reports between turns
      if ((await count()) > than) return;
    }
  };
  const minorCount = (text: string) => Number(/^agrilume_gc_pause_seconds_count\{kind="minor"\} (\d+)/m.exec(text)?.[1] ?? 0);

  it("counts the main thread's minor collections by kind while the service runs, and stops counting when it stops", async () => {
    t = await startTestApp();
    const app = t;
    const scrape = async () => minorCount(await (await app.api("/metrics")).text());
    await collectMinor(scrape, 0);
    const counted = await scrape();
    expect(counted).toBeGreaterThan(0);
    expect(await (await app.api("/metrics")).text()).toMatch(/^agrilume_gc_pause_seconds_bucket\{le="0\.01",kind="minor"\} \d+/m);

    await app.stop();
    const registry = app.app.metrics.registry;
    const countNow = async () => minorCount(await registry.metrics());
    const stopped = await countNow();
    let other = 0;
    // collections still happen in this process (seen by a fresh observer), and the stopped service's count stays
    const { PerformanceObserver } = await import("node:perf_hooks");
    const watch = new PerformanceObserver((list) => {
      other += list.getEntries().length;
    });
    watch.observe({ entryTypes: ["gc"] });
    await collectMinor(async () => other, 0);
    watch.disconnect();
    expect(other).toBeGreaterThan(0);
    expect(await countNow()).toBe(stopped);
    t = undefined;
  });
});
