import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { topics } from "../devices/index.js";
import { connectDevice, publish, reading, registerLight, startTestApp, waitUntil } from "../harness/helpers.js";
import { backupDataDir, restoreDataDir } from "../src/system/backup.js";
import { tempDirPerTest } from "./dirs.js";
import { serviceEnv, startFailing } from "./process.js";

const dir = tempDirPerTest();

/** `backup|restore <dir>` as an operator runs it (npm run backup: scripts/agrilume.mjs, here through tsx), on `dataDir`. */
const cli = (dataDir: string, ...args: string[]) => {
  const res = spawnSync(process.execPath, [join("scripts", "agrilume.mjs"), ...args], {
    cwd: process.cwd(),
    env: serviceEnv(dataDir),
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: res.status, out: res.stdout, err: res.stderr };
};

/** Every table of a DuckDB file with its rows, in a fixed order, as JSON. */
async function tables(file: string): Promise<Record<string, string>> {
  const inst = await DuckDBInstance.create(file, { access_mode: "READ_ONLY" });
  const c = await inst.connect();
  try {
    const names = (await c.runAndReadAll("SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name"))
      .getRows()
      .map((r) => String(r[0]));
    const out: Record<string, string> = {};
    for (const t of names) out[t] = JSON.stringify((await c.runAndReadAll(`SELECT * FROM "${t}" ORDER BY ALL`)).getRowsJson());
    return out;
  } finally {
    c.closeSync();
    inst.closeSync();
  }
}

describe("backup and restore of a data directory (npm run backup / npm run restore)", () => {
  it("refuses while the service runs; backs up once stopped; restores into an empty directory only; every table comes back", async () => {
    const data = dir();
    const t = await startTestApp({}, data);
    let running = true;
    let alertId = "";
    try {
      // devices (with their secrets), a key, an account's audit, an alert, readings through MQTT
      const creds = await registerLight(t, "L-BAK-1");
      await registerLight(t, "L-BAK-2");
      expect((await t.api("/api/v1/keys", { method: "POST", body: JSON.stringify({ name: "备份测试", role: "operator" }) })).status).toBe(201);
      const alert = t.app.alerts.engine.observe("L-BAK-2", "dark", true, {
        family: "streetlight",
        town: "来苏镇",
        village: "梳妆台村",
        station: null,
        detail: null,
      });
      expect(alert).not.toBeNull();
      const client = await connectDevice(t, creds);
      const now = Date.now();
      for (let i = 0; i < 20; i++)
        await publish(client, topics.uplink("streetlight", creds.id, "telemetry"), JSON.stringify(reading(now - (20 - i) * 300_000)));
      client.end(true);
      await waitUntil(async () => (await t.app.telemetry.count({ deviceId: "L-BAK-1" })) === 20, "readings stored");
      await waitUntil(async () => (await t.app.state.db.all("SELECT id FROM alerts WHERE id = ?", [alert?.id ?? ""])).length === 1, "alert recorded");
      alertId = alert?.id ?? "";

      const refused = cli(data, "backup", join(dir(), "b"));
      expect(refused.code).toBe(1);
      expect(refused.err).toContain("The service is running");
      expect(refused.err).toContain("state.duckdb");

      await t.stop();
      running = false;
    } finally {
      if (running) await t.stop();
    }

    const backup = join(dir(), "backup");
    const made = cli(data, "backup", backup);
    expect(made.err).toBe("");
    expect(made.code).toBe(0);
    expect(made.out).toMatch(/^Backed up to .*backup: \d+ files/);
    const manifest = JSON.parse(readFileSync(join(backup, "manifest.json"), "utf8")) as { files: { path: string }[] };
    const paths = manifest.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(["state.duckdb", "telemetry.duckdb"]));
    expect(paths.some((p) => p.startsWith("wal"))).toBe(true);
    // one directory per backup; never a restore over existing data (the commands' other refusals, in this process)
    await expect(backupDataDir(data, backup)).rejects.toMatchObject({ m: { code: "backup_target_not_empty" } });
    await expect(restoreDataDir(backup, data)).rejects.toMatchObject({ m: { code: "restore_target_not_empty" } });
    const restored = join(dir(), "restored");
    const back = cli(restored, "restore", backup);
    expect(back.err).toBe("");
    expect(back).toMatchObject({ code: 0, out: expect.stringContaining("Restored the backup of") });

    for (const db of ["state.duckdb", "telemetry.duckdb"]) {
      const [a, b] = [await tables(join(data, db)), await tables(join(restored, db))];
      expect(Object.keys(b)).toEqual(Object.keys(a));
      for (const name of Object.keys(a)) expect(b[name], `${db} ${name}`).toBe(a[name]);
    }
    const state = await tables(join(restored, "state.duckdb"));
    for (const name of ["devices", "api_keys", "alerts", "audit_log", "presence_events"])
      expect(JSON.parse(state[name] ?? "[]").length, name).toBeGreaterThan(0);
    expect(JSON.parse((await tables(join(restored, "telemetry.duckdb"))).readings ?? "[]")).toHaveLength(20);

    // the restored directory is a service's data: devices, their readings and the alert are there
    const again = await startTestApp({}, restored);
    try {
      const res = await again.api("/api/v1/devices/L-BAK-1/telemetry?from=2000-01-01T00:00:00Z&limit=100");
      expect(((await res.json()) as { readings: unknown[] }).readings).toHaveLength(20);
      expect(await again.app.alerts.engine.find(alertId)).toMatchObject({ deviceId: "L-BAK-2", type: "dark", state: "firing" });
    } finally {
      await again.stop();
    }

    // a damaged backup restores nothing
    const file = join(backup, "data", "state.duckdb");
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(file, bytes);
    const empty = join(dir(), "empty");
    await expect(restoreDataDir(backup, empty)).rejects.toMatchObject({ m: { code: "restore_corrupt", params: { file: "state.duckdb" } } });
    expect(existsSync(empty)).toBe(false);
    await expect(restoreDataDir(dir(), empty)).rejects.toMatchObject({ m: { code: "restore_not_backup" } });
    await expect(backupDataDir(dir(), join(dir(), "b"))).rejects.toMatchObject({ m: { code: "backup_source_missing" } });
    expect(cli(empty, "backup")).toMatchObject({ code: 2, err: expect.stringContaining("Usage: backup <backup dir>") });
  }, 400_000);
});

/** A data directory with a state database of one table (what backup and restore need of it). */
async function smallDataDir(data: string): Promise<void> {
  mkdirSync(data, { recursive: true });
  const inst = await DuckDBInstance.create(join(data, "state.duckdb"));
  const c = await inst.connect();
  await c.run("CREATE TABLE kept AS SELECT range AS x FROM range(100000)");
  c.closeSync();
  inst.closeSync();
}

/** Damages a DuckDB file as a failing disk would (bytes flipped through it, its first block's among them). */
function damage(file: string): void {
  const bytes = readFileSync(file);
  for (let i = 0; i < bytes.length; i += 997) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
  writeFileSync(file, bytes);
}

describe("a damaged database and a backup in the wrong place", () => {
  it("restore of a damaged database (its manifest matching) says it is damaged, not in use, and leaves nothing behind; a retry can succeed", async () => {
    const data = dir();
    await smallDataDir(data);
    const backup = join(dir(), "backup");
    expect(cli(data, "backup", backup)).toMatchObject({ code: 0, err: "" });
    const good = join(dir(), "good");
    expect(cli(good, "restore", backup).code).toBe(0);

    // the damage hidden from the checksums: the manifest rewritten to match
    const file = join(backup, "data", "state.duckdb");
    damage(file);
    const manifestPath = join(backup, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { files: { path: string; bytes: number; sha256: string }[] };
    for (const f of manifest.files) {
      const b = readFileSync(join(backup, "data", f.path));
      Object.assign(f, { bytes: b.length, sha256: createHash("sha256").update(b).digest("hex") });
    }
    writeFileSync(manifestPath, JSON.stringify(manifest));

    // into a directory not there yet, and into an empty one that exists (a mount point, a Docker volume)
    const parent = dir();
    const absent = join(parent, "restored");
    const emptyDir = join(parent, "volume");
    mkdirSync(emptyDir);
    for (const target of [absent, emptyDir]) {
      const res = cli(target, "restore", backup);
      expect(res.code).toBe(1);
      expect(res.err).toContain(`The backup's database file ${file} is damaged and cannot be opened`);
      expect(res.err).toContain("Corrupt database file");
      expect(res.err).not.toContain("running");
    }
    expect(readdirSync(parent)).toEqual(["volume"]);
    expect(readdirSync(emptyDir)).toEqual([]);
    // in Chinese, by default
    const zh = spawnSync(process.execPath, [join("scripts", "agrilume.mjs"), "restore", backup], {
      env: serviceEnv(absent, { AGRILUME_LANG: "zh" }),
      encoding: "utf8",
    });
    expect(zh.stderr).toContain(`备份中的数据库文件 ${file} 已损坏，无法打开`);

    // the same directory takes a good backup afterwards ("not empty" was the retry's answer before)
    const other = join(dir(), "other");
    expect(cli(good, "backup", other).code).toBe(0);
    expect(cli(emptyDir, "restore", other)).toMatchObject({ code: 0, err: "" });
    expect(readdirSync(emptyDir).sort()).toEqual(readdirSync(good).sort());
    expect(readdirSync(parent)).toEqual(["volume"]);
  }, 200_000);

  it("a backup and a start on a damaged data directory say that it is damaged and what to do", async () => {
    const data = dir();
    await smallDataDir(data);
    damage(join(data, "state.duckdb"));
    const refused = cli(data, "backup", join(dir(), "b"));
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`The database file ${join(data, "state.duckdb")} is damaged and cannot be opened`);
    expect(refused.err).not.toContain("running");

    const start = await startFailing(process.execPath, ["--import", "tsx", join("src", "bin.ts")], {
      cwd: process.cwd(),
      env: serviceEnv(data, { AGRILUME_LANG: "zh" }),
    });
    expect(start.code).toBe(1);
    expect(start.stderr).toContain(`服务未能启动：数据库文件 ${join(data, "state.duckdb")} 已损坏，无法打开`);
    expect(start.stderr).toContain("npm run restore");
    expect(start.stderr).not.toMatch(/\n\s+at /); // a message, not a stack
  }, 200_000);

  it("refuses a backup directory inside the data directory, and a data directory inside the backup directory", async () => {
    const data = join(dir(), "data");
    await smallDataDir(data);
    const inside = cli(data, "backup", join(data, "inside"));
    expect(inside.code).toBe(1);
    expect(inside.err).toContain(`The backup directory ${join(data, "inside")} and the data directory ${data} lie one inside the other`);
    expect(existsSync(join(data, "inside"))).toBe(false);
    const around = cli(data, "backup", dirname(data));
    expect(around.code).toBe(1);
    expect(around.err).toContain("lie one inside the other");
    expect(cli(data, "backup", join(data, "..", "beside")).code).toBe(0);
    // the same through a symbolic link (a `current -> release` deploy, a volume mounted by its link): still refused
    const link = join(dir(), "data-link");
    symlinkSync(data, link);
    const throughLink = cli(data, "backup", join(link, "inside"));
    expect(throughLink.code).toBe(1);
    expect(throughLink.err).toContain("lie one inside the other");
    expect(existsSync(join(data, "inside"))).toBe(false);
  }, 200_000);
});
