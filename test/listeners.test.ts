import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, publish, reading, registerLight, startTestApp, type TestApp, tempDir } from "../harness/helpers.js";
import { findBinary, serviceAvailable } from "../harness/services.js";

const OPENSSL = findBinary("openssl", ["/usr/bin/openssl", "openssl"]);
const run = serviceAvailable("openssl (to make a test certificate)", OPENSSL, "apt-get install openssl");

describe.skipIf(!run)("TLS and WebSocket listeners", () => {
  let t: TestApp;
  const certs = tempDir();
  let creds: { id: string; secret: string };
  beforeAll(async () => {
    const key = join(certs.path, "key.pem");
    const cert = join(certs.path, "cert.pem");
    execFileSync(
      OPENSSL ?? "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
      {
        stdio: "ignore",
      },
    );
    // (ports the OS picks when they are opened: a port picked earlier may be taken meanwhile)
    t = await startTestApp({
      AGRILUME_MQTT_TLS_PORT: "0",
      AGRILUME_MQTT_TLS_CERT: cert,
      AGRILUME_MQTT_TLS_KEY: key,
      AGRILUME_MQTT_WS_PORT: "0",
    });
    creds = await registerLight(t, "LIS-1");
  });
  afterAll(async () => {
    await t.stop();
    certs.remove();
  });

  it("accepts a device over TLS with its credentials", async () => {
    const client = await connect(`mqtts://127.0.0.1:${t.started.ports.tls}`, {
      clientId: creds.id,
      username: creds.id,
      password: creds.secret,
      ca: readFileSync(join(certs.path, "cert.pem")),
      rejectUnauthorized: false,
    });
    await publish(client, "streetlight/LIS-1/telemetry", JSON.stringify(reading(Date.now() - 2000)));
    client.end();
    await expect(
      connect(`mqtts://127.0.0.1:${t.started.ports.tls}`, { clientId: creds.id, username: creds.id, password: "nope", rejectUnauthorized: false }),
    ).rejects.toThrow(/Bad username or password/);
  });

  it("accepts a device over MQTT on WebSocket", async () => {
    const client = await connect(`ws://127.0.0.1:${t.started.ports.ws}`, { clientId: creds.id, username: creds.id, password: creds.secret });
    await publish(client, "streetlight/LIS-1/telemetry", JSON.stringify(reading(Date.now() - 1000)));
    client.end();
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    expect(await t.app.telemetry.count({ deviceId: "LIS-1", measurement: "streetlight_telemetry" })).toBe(2);
  });
});
