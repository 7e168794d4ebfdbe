import { describe, expect, it } from "vitest";
import { alertStore } from "../src/alerts/store.js";
import { openStateStore } from "../src/state.js";

/** The state tables pruned by the retention job (docs/DATA.md); the rest are evidence and kept. */
describe("state retention", () => {
  const DAY = 86_400_000;
  const NOW = Date.UTC(2026, 10, 30, 4);

  it("deletes presence events before the cutoff but keeps each device's newest online one (it has connected once)", async () => {
    const state = await openStateStore(":memory:");
    try {
      const at = (days: number) => NOW - days * DAY;
      await state.presence.insertPresenceEvents([
        { deviceId: "L1", online: true, cause: "connect", at: at(900) },
        { deviceId: "L1", online: false, cause: "timeout", at: at(899) },
        { deviceId: "L1", online: true, cause: "connect", at: at(800) },
        { deviceId: "L1", online: false, cause: "timeout", at: at(799) },
        { deviceId: "L2", online: true, cause: "connect", at: at(900) },
        { deviceId: "L2", online: true, cause: "connect", at: at(1) },
        { deviceId: "L3", online: false, cause: "timeout", at: at(900) },
      ]);
      await state.presence.prunePresenceEvents(NOW - 728 * DAY);
      const events = async (id: string) => (await state.presence.presenceEvents(id, 10)).map((e) => [e.online, (NOW - e.at) / DAY]);
      expect(await events("L1")).toEqual([[true, 800]]);
      expect(await events("L2")).toEqual([[true, 1]]);
      expect(await events("L3")).toEqual([]);
      expect([...(await state.presence.devicesSeen())].sort()).toEqual(["L1", "L2"]);
    } finally {
      await state.close();
    }
  });

  it("deletes delivery records made before the cutoff, never a pending one", async () => {
    const state = await openStateStore(":memory:");
    try {
      const store = alertStore(state.db);
      const d = (id: string, status: string, days: number) =>
        store.putDelivery(id, "c1", { id, channelId: "c1", status, attempts: 1, createdAt: NOW - days * DAY, sentAt: null });
      await d("old-sent", "sent", 100);
      await d("old-failed", "failed", 91);
      await d("old-pending", "pending", 100);
      await d("new-sent", "sent", 10);
      await store.pruneDeliveries(NOW - 90 * DAY);
      expect((await store.deliveries<{ id: string }>("c1", 10)).map((x) => x.id).sort()).toEqual(["new-sent", "old-pending"]);
    } finally {
      await state.close();
    }
  });
});
