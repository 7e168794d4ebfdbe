import { afterEach, describe, expect, it } from "vitest";
import { ADMIN_KEY, connect, publish, reading, tempDir } from "../harness/helpers.js";
import { type ServiceProcess as Proc, startServiceProcess as startService } from "../harness/services.js";

const api = (p: Proc, path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${p.http}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json", ...init.headers },
  });

describe("durability: an acknowledged reading survives SIGKILL", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it.each([
    ["nothing yet in the store (all from the log)", { AGRILUME_STORE_FLUSH_MS: "60000", AGRILUME_STORE_BATCH_SIZE: "100000" }],
    ["part already in the store", { AGRILUME_STORE_FLUSH_MS: "5", AGRILUME_STORE_BATCH_SIZE: "37" }],
  ])("publishes N QoS 1 readings, kills the process after the last PUBACK, restarts: all N stored exactly once (%s)", async (_name, env) => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const first = await startService(dir.path, env);
    cleanups.push(() => first.child.kill("SIGKILL"));
    const reg = await api(first, "/api/v1/devices", {
      method: "POST",
      body: JSON.stringify({ id: "DUR-1", family: "streetlight", town: "来苏镇", lat: 29.35, lon: 105.91 }),
    });
    const creds = (await reg.json()) as { id: string; secret: string };
    const client = await connect(`mqtt://127.0.0.1:${first.mqtt}`, { clientId: creds.id, username: creds.id, password: creds.secret });
    const N = 600;
    const t0 = Date.now() - 3600_000;
    // all in flight at once, as a device flushing its buffer would send them
    await Promise.all(Array.from({ length: N }, (_, i) => publish(client, "streetlight/DUR-1/telemetry", JSON.stringify(reading(t0 + i * 1000)))));
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe(null);
    client.end(true);

    const second = await startService(dir.path, env);
    cleanups.push(() => second.child.kill("SIGKILL"));
    const deadline = Date.now() + 20_000;
    let readings: { ts: string }[] = [];
    while (Date.now() < deadline) {
      const res = await api(second, `/api/v1/devices/DUR-1/telemetry?from=${new Date(t0 - 1).toISOString()}&limit=10000`);
      readings = ((await res.json()) as { readings: { ts: string }[] }).readings;
      if (readings.length >= N) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(readings).toHaveLength(N);
    expect(new Set(readings.map((r) => r.ts)).size).toBe(N);
    expect(readings[0]?.ts).toBe(new Date(t0).toISOString());
    expect(readings.at(-1)?.ts).toBe(new Date(t0 + (N - 1) * 1000).toISOString());

    // SIGTERM with a device still connected: stop accepting, flush, close, exit 0
    const connected = await connect(`mqtt://127.0.0.1:${second.mqtt}`, { clientId: creds.id, username: creds.id, password: creds.secret });
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    connected.end(true);
    const third = await startService(dir.path, env);
    cleanups.push(() => third.child.kill("SIGKILL"));
    const after = await api(third, `/api/v1/devices/DUR-1/telemetry?from=${new Date(t0 - 1).toISOString()}&limit=10000`);
    expect(((await after.json()) as { readings: unknown[] }).readings).toHaveLength(N);
    third.child.kill("SIGTERM");
    await third.exited;
  });
});
