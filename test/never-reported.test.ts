import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";

/** Issue 20 #5: a registered light that never connects is a phantom until proven otherwise. */
describe("a light that never reported", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_NEVER_REPORTED_H: "1" });
  });
  afterAll(() => t.stop());
  type Alert = { id: string; deviceId: string; type: string; state: string; detailCode: string | null; detail: string };
  const alerts = async () => ((await (await t.api("/api/v1/alerts?state=open")).json()) as { alerts: Alert[] }).alerts;

  it("raises an offline alert once its installation day plus the grace period has passed, and its first connect resolves it", async () => {
    const ghost = await registerLight(t, "GHOST-1");
    const live = await registerLight(t, "LIVE-1");
    await registerLight(t, "LATER-1", { installedOn: "2099-01-01" });
    (await connectDevice(t, live)).end();
    await t.app.presence.flush();
    await waitUntil(async () => (await t.app.state.presence.devicesSeen()).has("LIVE-1"), "the live light's connect recorded");
    // within the grace period: nothing
    expect(await t.app.streetlights.checkNeverReported(Date.now() + 30 * 60_000)).toBe(0);
    // past it: the light that never connected, not the one that did, not the one installed in 2099
    expect(await t.app.streetlights.checkNeverReported(Date.now() + 2 * 3600_000)).toBe(1);
    const open = (await alerts()).filter((a) => a.deviceId !== "LIVE-1");
    expect(open.map((a) => [a.deviceId, a.type, a.detailCode])).toEqual([["GHOST-1", "offline", "never_reported"]]);
    expect(open[0]?.detail).toMatch(/^自 \d{4}-\d{2}-\d{2} \d{2}:\d{2} 安装登记以来从未上报$/);
    // said once
    expect(await t.app.streetlights.checkNeverReported(Date.now() + 3 * 3600_000)).toBe(0);
    // it connects after all: resolved
    (await connectDevice(t, ghost)).end();
    await waitUntil(async () => !(await alerts()).some((a) => a.deviceId === "GHOST-1"), "the alert resolved");
  });
});
