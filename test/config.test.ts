import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/platform/config.js";

describe("configuration", () => {
  it("runs the embedded setup with no settings at all", () => {
    const r = loadConfig({});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toMatchObject({
      dataDir: "./data",
      http: { port: 8080 },
      mqtt: { port: 1883, external: undefined },
      store: { kind: "embedded" },
      lang: "zh",
    });
    expect(Object.isFrozen(r.config.mqtt)).toBe(true);
  });

  it("lists every problem, each as `name: message`", () => {
    const r = loadConfig({
      AGRILUME_HTTP_PORT: "eighty",
      AGRILUME_MQTT_PORT: "70000",
      AGRILUME_HTTP_PROT: "1",
      AGRILUME_LANG: "fr",
      AGRILUME_ADMIN_KEY: "short",
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const names = r.errors.map((e) => e.split(":")[0]);
    expect(names).toEqual(
      expect.arrayContaining(["AGRILUME_HTTP_PORT", "AGRILUME_MQTT_PORT", "AGRILUME_HTTP_PROT", "AGRILUME_LANG", "AGRILUME_ADMIN_KEY"]),
    );
    expect(r.errors.find((e) => e.startsWith("AGRILUME_HTTP_PROT"))).toContain("not a known setting");
  });

  it("refuses half a TLS listener and two listeners on one port", () => {
    const tls = loadConfig({ AGRILUME_MQTT_TLS_PORT: "8883" });
    expect(tls.ok).toBe(false);
    if (!tls.ok) expect(tls.errors.join("\n")).toContain("AGRILUME_MQTT_TLS_CERT");
    const clash = loadConfig({ AGRILUME_HTTP_PORT: "1883" });
    expect(clash.ok).toBe(false);
    if (!clash.ok) expect(clash.errors.join("\n")).toContain("already used");
  });

  it("takes an external broker URL and its options", () => {
    const r = loadConfig({ AGRILUME_MQTT_URL: "mqtt://broker:1883", AGRILUME_MQTT_PROTOCOL: "4" });
    expect(r.ok && r.config.mqtt.external).toMatchObject({ url: "mqtt://broker:1883", protocolVersion: 4, clientId: "agrilume-ingest" });
    expect(loadConfig({ AGRILUME_MQTT_URL: "http://broker" }).ok).toBe(false);
  });

  it("active/standby ingest needs an external broker and a PostgreSQL state store, and subscribes plainly", () => {
    for (const env of [{}, { AGRILUME_MQTT_URL: "mqtt://broker:1883" }, { AGRILUME_STATE_URL: "postgres://a@db/agrilume" }]) {
      const r = loadConfig({ ...env, AGRILUME_INGEST_FAILOVER: "lease" });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.errors.join("\n")).toContain("AGRILUME_INGEST_FAILOVER: the ingest lease is held in PostgreSQL");
    }
    const r = loadConfig({
      AGRILUME_MQTT_URL: "mqtt://broker:1883",
      AGRILUME_STATE_URL: "postgres://a@db/agrilume",
      AGRILUME_INGEST_FAILOVER: "lease",
    });
    expect(r.ok && r.config.mqtt.external).toMatchObject({ failover: "lease", sharedGroup: "" });
    expect(loadConfig({ AGRILUME_INGEST_FAILOVER: "active" }).ok).toBe(false);
  });

  it("reads a config file, with the environment winning", () => {
    const r = loadConfig({ AGRILUME_HTTP_PORT: "9000" }, { AGRILUME_HTTP_PORT: 7000, AGRILUME_LANG: "en" });
    expect(r.ok && r.config.http.port).toBe(9000);
    expect(r.ok && r.config.lang).toBe("en");
    expect(loadConfig({}, { http_port: 1 }).ok).toBe(false);
  });

  it("the service exits 1 with every problem before opening a port", () => {
    const res = spawnSync(process.execPath, ["--import", "tsx", "src/bin.ts"], {
      env: { PATH: process.env.PATH, AGRILUME_HTTP_PORT: "-1", AGRILUME_STORE: "postgres", AGRILUME_LANG: "en" },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain("Invalid configuration");
    expect(res.stderr).toContain("AGRILUME_HTTP_PORT:");
    expect(res.stderr).toContain("AGRILUME_STORE:");
    expect(res.stdout).not.toContain("AGRILUME_READY");
  });
});
