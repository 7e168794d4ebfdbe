import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDevice, publish, reading, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { POSTGRES_BIN, type Postgres, serviceAvailable, startPostgres } from "../harness/services.js";

const run = serviceAvailable("PostgreSQL", POSTGRES_BIN, "apt-get install postgresql");

/**
 * Issue 18: two instances on one PostgreSQL state store see each other's devices and keys (LISTEN/NOTIFY), and keep
 * their own checkpoints.
 */
describe.skipIf(!run)("two instances on one PostgreSQL", () => {
  let postgres: Postgres;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    postgres = await startPostgres();
    const url = await postgres.createDatabase("agrilume_two");
    a = await startTestApp({ AGRILUME_STATE_URL: url, AGRILUME_INSTANCE_ID: "district-a" });
    b = await startTestApp({ AGRILUME_STATE_URL: url, AGRILUME_INSTANCE_ID: "district-b" });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await postgres?.stop();
    postgres?.remove();
  });

  const makeKey = async (t: TestApp, name: string) => {
    const res = await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name, role: "technician", towns: ["来苏镇"] }) });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; key: string };
  };
  const status = async (t: TestApp, key: string) => (await t.api("/api/v1/alerts", { key })).status;

  it("a key made on A works on B, and a key revoked on A stops working on B", async () => {
    const { id, key } = await makeKey(a, "王工");
    expect(await status(a, key)).toBe(200);
    await waitUntil(async () => (await status(b, key)) === 200, "B to accept the key made on A", 15_000);
    const revoked = await a.api(`/api/v1/keys/${id}`, { method: "DELETE" });
    expect(revoked.status).toBeLessThan(300);
    await waitUntil(async () => (await status(b, key)) === 401, "B to refuse the key revoked on A", 15_000);
    expect(await status(a, key)).toBe(401);
  });

  it("an account made on A signs in on B, its session works on A, and disabled on A it is refused and signed out on B (found by a new user)", async () => {
    const made = await a.api("/api/v1/users", { method: "POST", body: JSON.stringify({ name: "lisi", role: "technician", towns: ["来苏镇"] }) });
    expect(made.status).toBe(201);
    const { user, password } = (await made.json()) as { user: { id: string }; password: string };
    const signIn = (t: TestApp) => t.api("/api/v1/session", { key: null, method: "POST", body: JSON.stringify({ name: "lisi", password }) });
    await waitUntil(async () => (await signIn(b)).status === 200, "B to know the account made on A", 15_000);
    const res = await signIn(b);
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const me = (t: TestApp) => t.api("/api/v1/me", { key: null, headers: { cookie } });
    await waitUntil(async () => (await me(a)).status === 200, "A to know the session made on B", 15_000);
    expect((await a.api(`/api/v1/users/${user.id}`, { method: "PATCH", body: JSON.stringify({ disabled: true }) })).status).toBe(200);
    await waitUntil(async () => (await me(b)).status === 401, "B to end the session of the account disabled on A", 15_000);
    expect((await signIn(b)).status).toBe(401);
  });

  it("a light registered on A connects to B and its readings are stored there; a new secret made on A is the one B takes", async () => {
    const creds = await registerLight(b, "TWO-0"); // (B's own, to see B's registry before it hears of A's)
    expect(b.app.registry.get(creds.id)).toBeDefined();
    const made = await registerLight(a, "TWO-1");
    await waitUntil(() => b.app.registry.get("TWO-1"), "B to know the light registered on A", 15_000);
    expect(b.app.registry.counts().streetlight).toBe(2);
    expect((await b.api("/api/v1/devices/TWO-1")).status).toBe(200);
    const client = await connectDevice(b, made);
    await publish(client, "streetlight/TWO-1/telemetry", JSON.stringify(reading(Date.now() - 60_000)));
    client.end();
    await b.app.writer.waitFor(b.app.wal.lastSeq());
    expect(await b.app.telemetry.count({ deviceId: "TWO-1", measurement: "streetlight_telemetry" })).toBe(1);

    const rotated = await a.api("/api/v1/devices/TWO-1/secret", { method: "POST" });
    expect(rotated.status).toBe(200);
    const { secret } = (await rotated.json()) as { secret: string };
    await waitUntil(async () => (await b.app.registry.authenticate("TWO-1", secret)).ok, "B to take the new secret", 15_000);
    expect(await b.app.registry.authenticate("TWO-1", made.secret)).toEqual({ ok: false, reason: "bad_secret" });
  });

  it("a listening connection that is cut is made again, and what changed meanwhile is read", async () => {
    const cut = await postgres.query<{ n: boolean }>(
      "SELECT pg_terminate_backend(pid) AS n FROM pg_stat_activity WHERE application_name = 'agrilume district-b listen'",
    );
    expect(cut).toHaveLength(1);
    const { key } = await makeKey(a, "李工"); // its notification may reach nobody on B
    await waitUntil(async () => (await status(b, key)) === 200, "B to accept the key made while it was not listening", 10_000);
  });

  it("both go on after PostgreSQL restarts: they connect again, and what one changes after it the other hears", async () => {
    await postgres.stop();
    await postgres.start();
    // the first statement on a connection PostgreSQL closed may fail; the next connects again
    await waitUntil(
      async () =>
        (await a.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name: "张工", role: "technician", towns: ["来苏镇"] }) })).status ===
        201,
      "A to make a key again",
      10_000,
    );
    const { key } = await makeKey(a, "赵工");
    await waitUntil(async () => (await status(b, key)) === 200, "B to accept a key made after the restart", 10_000);
    await registerLight(a, "TWO-2");
    await waitUntil(() => b.app.registry.get("TWO-2"), "B to know a light registered after the restart", 10_000);
    expect((await b.api("/ready")).status).toBe(200);
  });

  it("each instance keeps its own ingest checkpoints in the shared meta table", async () => {
    // Both started their blending and rejects sinks: their checkpoints, once written, are named for the instance.
    await a.app.state.db.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", ["probe", "1"]);
    expect(a.app.state.checkpointKey("rejects_seq")).toBe("rejects_seq@district-a");
    expect(b.app.state.checkpointKey("rejects_seq")).toBe("rejects_seq@district-b");
    await a.app.state.rejects.writeRejects([], 500);
    await b.app.state.rejects.writeRejects([], 20);
    expect(await a.app.state.rejects.rejectCheckpoint()).toBe(500);
    expect(await b.app.state.rejects.rejectCheckpoint()).toBe(20);
    expect(await b.app.state.getMeta("probe")).toBe("1"); // (the table itself is shared)
  });
});
