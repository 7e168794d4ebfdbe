import { afterAll, describe, expect, it } from "vitest";
import { connectDevice, publish, reading, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";

type Light = { id: string; condition: string; detail: string | null; since: string | null };
type Device = { id: string; lastSeen: string | null };
type Presence = { events: { online: boolean; cause: string; at: string }[] };

/**
 * After a restart (the nightly stop for a backup, an upgrade), every light is not "offline, never reported" until it
 * connects again: the API, the map and the counts say what was last known (a tester found the opposite on the embedded
 * defaults, while Grafana still showed the conditions).
 */
describe("a restart keeps each light's last known presence and condition", () => {
  let t: TestApp | undefined;
  afterAll(() => t?.stop());

  it("online lights stay as they were until one presence timeout passes without a word; offline ones stay offline; the shutdown is no disconnect", async () => {
    t = await startTestApp();
    const a = await registerLight(t, "RS-LS-A");
    const b = await registerLight(t, "RS-LS-B", { lat: 29.3516 });
    const ca = await connectDevice(t, a);
    const cb = await connectDevice(t, b);
    const now = Date.now();
    for (const ts of [now - 20 * 60_000, now - 15 * 60_000, now - 10 * 60_000]) {
      await publish(ca, "streetlight/RS-LS-A/telemetry", JSON.stringify(reading(ts)));
    }
    // B's readings are hours old (buffered): the readings read back at a start (the last hour's) do not hold them, so
    // only the offline event kept with when B last spoke tells it after the restart
    for (const ts of [now - 3 * 3_600_000, now - 2.5 * 3_600_000]) await publish(cb, "streetlight/RS-LS-B/telemetry", JSON.stringify(reading(ts)));
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    cb.end(true); // B goes offline before the stop: a real disconnect
    await waitUntil(async () => !t?.app.presence.isOnline("RS-LS-B"), "B offline");
    const light = async (id: string) => (await (await (t as TestApp).api(`/api/v1/streetlights/${id}`)).json()) as Light;
    const before = { a: await light("RS-LS-A"), b: await light("RS-LS-B") };
    const deviceB = async () => (await (await (t as TestApp).api("/api/v1/devices/RS-LS-B")).json()) as Device;
    const bSeen = (await deviceB()).lastSeen;
    expect(Date.parse(bSeen ?? "")).toBeGreaterThanOrEqual(now); // heard now (the server's clock), whatever its readings' times
    expect(before.a.condition).not.toBe("offline");
    expect(before.b.condition).toBe("offline");

    const dataDir = t.dataDir;
    await t.app.stop(); // A is still connected: the broker closes its connection
    ca.end(true);
    t = await startTestApp({}, dataDir);

    // Before anyone connects again: A as it was, with when it last spoke; B offline since its disconnect, not "never reported".
    const after = { a: await light("RS-LS-A"), b: await light("RS-LS-B") };
    expect(after.a.condition).toBe(before.a.condition);
    expect(after.b.condition).toBe("offline");
    expect(after.b.since).toBe(before.b.since);
    expect(after.b.detail).not.toBe("从未上报");
    expect(after.b.detail).toBe(before.b.detail);
    expect((await deviceB()).lastSeen).toBe(bSeen); // when B last spoke, as before the restart (it was null before state version 14)
    const device = (await (await t.api("/api/v1/devices/RS-LS-A")).json()) as Device;
    expect(device.lastSeen).not.toBeNull();
    expect(Date.parse(device.lastSeen as string)).toBeGreaterThanOrEqual(now - 10 * 60_000); // its connect or newest reading
    // the stop recorded no disconnect for A: its newest presence event is still its connect
    const history = (await (await t.api("/api/v1/devices/RS-LS-A/presence")).json()) as Presence;
    expect(history.events[0]).toMatchObject({ online: true });

    // One presence timeout after the start, A has said nothing: silent, recorded, and the API says so.
    const graceFrom = t.app.presence.get("RS-LS-A")?.graceFrom;
    expect(graceFrom).toBeDefined();
    const timeoutMs = 3 * t.app.config.ingest.reportIntervalS.streetlight * 1000;
    t.app.presence.sweep((graceFrom as number) + timeoutMs - 1);
    expect(t.app.presence.isOnline("RS-LS-A")).toBe(true);
    t.app.presence.sweep((graceFrom as number) + timeoutMs + 1);
    expect((await light("RS-LS-A")).condition).toBe("offline");
    await t.app.presence.flush();
    const later = (await (await t.api("/api/v1/devices/RS-LS-A/presence")).json()) as Presence;
    expect(later.events[0]).toMatchObject({ online: false, cause: "silent" });
  }, 60_000);
});
