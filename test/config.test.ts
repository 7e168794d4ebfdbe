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

  it("lists every problem, each as the setting's name and what is wrong with it", () => {
    const r = loadConfig({
      AGRILUME_HTTP_PORT: "eighty",
      AGRILUME_MQTT_PORT: "70000",
      AGRILUME_HTTP_PROT: "1",
      AGRILUME_LANG: "fr",
      AGRILUME_ADMIN_KEY: "short",
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const names = r.errors.map((e) => e.split(/[：: ]/)[0]);
    expect(names).toEqual(
      expect.arrayContaining(["AGRILUME_HTTP_PORT", "AGRILUME_MQTT_PORT", "AGRILUME_HTTP_PROT", "AGRILUME_LANG", "AGRILUME_ADMIN_KEY"]),
    );
    expect(r.errors.find((e) => e.startsWith("AGRILUME_HTTP_PROT"))).toContain("没有这个设置项");
  });

  it("words its problems from codes and parameters, in Chinese by default and in English with AGRILUME_LANG=en", () => {
    const env = { AGRILUME_HTTP_PORT: "eighty", AGRILUME_HTTP_PROT: "1", AGRILUME_EMBEDDED_RAW_RETENTION: "3m" };
    const zh = loadConfig(env, { dataDir: "./data" });
    const en = loadConfig({ ...env, AGRILUME_LANG: "en" }, { dataDir: "./data" });
    if (zh.ok || en.ok) throw new Error("expected problems");
    expect(zh.problems).toEqual(en.problems); // the same codes; only the words differ
    expect(zh.problems).toEqual(
      expect.arrayContaining([
        { code: "config_not_agrilume", params: { setting: "dataDir" } },
        { code: "config_unknown_setting", params: { setting: "AGRILUME_HTTP_PROT" } },
        { code: "issue_type", params: { path: "AGRILUME_HTTP_PORT", expected: "number" } },
        { code: "issue_hint", params: { path: "AGRILUME_EMBEDDED_RAW_RETENTION", hint: { code: "hint_days_weeks", params: {} } } },
      ]),
    );
    expect(zh.errors).toEqual(
      expect.arrayContaining([
        "dataDir：不是设置项（设置项都以 AGRILUME_ 开头）",
        "AGRILUME_HTTP_PORT 应为数字",
        "AGRILUME_EMBEDDED_RAW_RETENTION：应为天数或周数，如 60d、9w",
      ]),
    );
    // no English left in the Chinese (zod's "Invalid input: expected number, received NaN" was)
    for (const e of zh.errors) expect(e.replace(/AGRILUME_[A-Z_]*|dataDir|README|\d+[dw]/g, "")).not.toMatch(/[a-z]{3,}/i);
    expect(en.errors).toEqual(
      expect.arrayContaining([
        "dataDir: not a setting (settings are named AGRILUME_*)",
        "AGRILUME_HTTP_PORT must be of type number",
        "AGRILUME_EMBEDDED_RAW_RETENTION: days or weeks, such as 60d or 9w",
      ]),
    );
    for (const e of en.errors) expect(e).not.toMatch(/[\u4e00-\u9fff]/);
  });

  it("refuses half a TLS listener and two listeners on one port", () => {
    const tls = loadConfig({ AGRILUME_MQTT_TLS_PORT: "8883" });
    expect(tls.ok).toBe(false);
    if (!tls.ok) expect(tls.errors.join("\n")).toContain("AGRILUME_MQTT_TLS_CERT");
    const clash = loadConfig({ AGRILUME_HTTP_PORT: "1883" });
    expect(clash.ok).toBe(false);
    if (!clash.ok) expect(clash.errors.join("\n")).toContain("端口 1883 已被 AGRILUME_HTTP_PORT 使用");
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
      if (!r.ok) expect(r.problems.map((p) => p.code)).toContain("config_failover_lease");
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
    expect(res.stderr).toContain("AGRILUME_HTTP_PORT must be at least 0");
    expect(res.stderr).toContain("AGRILUME_STORE must be one of: embedded, influx");
    expect(res.stdout).not.toContain("AGRILUME_READY");
  });
});
