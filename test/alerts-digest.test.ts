import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReceiver, tempDir } from "../harness/helpers.js";
import { createDigest } from "../src/alerts/digest.js";
import { createAlertEngine } from "../src/alerts/engine.js";
import { createNotifier } from "../src/alerts/notifier.js";
import { alertStore } from "../src/alerts/store.js";
import { createMessages } from "../src/messages.js";
import { createLogger } from "../src/platform/log.js";
import { createRegistry, DeviceInputSchema } from "../src/registry/registry.js";
import { openStateStore, type StateStore } from "../src/state.js";
import { jobClaims } from "../src/storage/claims.js";
import { streetlightMessage } from "../src/streetlights/messages.js";
import type { NightRecord } from "../src/streetlights/nightly.js";
import { nightStore } from "../src/streetlights/store.js";

describe("the morning digest (fake time)", () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const dir = tempDir();
  let state: StateStore;
  beforeAll(async () => {
    receiver = await startReceiver();
    state = await openStateStore(dir.path);
  });
  afterAll(async () => {
    await receiver.close();
    await state.close();
    dir.remove();
  });

  it("after dawn, once a day per town: last night's unlit lights by cause and the alerts still open", async () => {
    let now = Date.parse("2025-11-22T08:00:00+08:00");
    const registry = await createRegistry(state.devices);
    await registry.register(
      ["L1", "L2", "L3", "Z1"].map((id) =>
        DeviceInputSchema.parse({ id, family: "streetlight", town: id.startsWith("Z") ? "朱沱镇" : "来苏镇", village: "v", lat: 29.35, lon: 105.9 }),
      ),
    );
    const rec = (deviceId: string, classification: NightRecord["classification"]): NightRecord => ({
      deviceId,
      date: "2025-11-21",
      dusk: "2025-11-21T10:00:00Z",
      dawn: "2025-11-21T23:30:00Z",
      expectedMin: 810,
      litMin: classification === "lit" ? 800 : 0,
      coveredMin: 810,
      loadWh: 0,
      pvWhDayBefore: 300,
      switchOns: 1,
      classification,
      flags: [],
      lastTs: null,
      gps: null,
    });
    await nightStore(state.db).write([rec("L1", "lit"), rec("L2", "dark"), rec("L3", "energy_limited"), rec("Z1", "lit")]);
    const engine = createAlertEngine({ clock: () => now, persist: () => undefined });
    const detail = streetlightMessage("lamp_power_low", { w: 0, expectedW: 30 });
    engine.observe("L2", "dark", true, { family: "streetlight", town: "来苏镇", village: "v", station: null, detail });
    const notifier = createNotifier({
      engine,
      store: alertStore(state.db),
      clock: () => now,
      log: createLogger("silent"),
      messages: createMessages(),
      publish: async () => undefined,
    });
    await notifier.load();
    await notifier.addChannel({
      name: "来苏",
      type: "webhook",
      url: `${receiver.url}/`,
      towns: ["来苏镇"],
    });
    // a digest as the service builds it; a second one stands for the service after a restart
    const makeDigest = () =>
      createDigest({
        registry,
        nights: nightStore(state.db),
        engine,
        notifier,
        clock: () => now,
        meta: { get: (k) => state.getMeta(k), set: (k, v) => state.setMeta(k, v) },
        claims: jobClaims(state.db, "here", () => now),
      });
    const digest = makeDigest();

    expect(await digest.run()).toEqual([]); // 08:00: not yet
    now = Date.parse("2025-11-22T08:31:00+08:00");
    expect((await digest.run()).sort()).toEqual(["朱沱镇", "来苏镇"]);
    expect(receiver.got).toHaveLength(1); // only 来苏镇 has a channel
    const body = JSON.parse(receiver.got[0]?.body ?? "{}") as { kind: string; text: string };
    expect(body.kind).toBe("digest");
    expect(body.text).toContain("来苏镇 昨夜（2025-11-21）路灯简报");
    expect(body.text).toContain("- 不亮：1 盏（L2）");
    expect(body.text).toContain("- 电量不足：1 盏（L3）");
    expect(body.text).toContain("仍未处理的告警：1 条");
    now += 3600_000;
    expect(await digest.run()).toEqual([]); // once a day, also after a restart (kept in the state store)
    const again = makeDigest();
    expect(await again.run()).toEqual([]);
  });
});
