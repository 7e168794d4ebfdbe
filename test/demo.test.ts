import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { waitUntil } from "../harness/helpers.js";
import { type Running, startService } from "./process.js";

/**
 * `npm run demo` as a new user meets it (issue 20 #14): its own process on free ports, its printed output read, the
 * addresses it prints asked with the key it prints, then stopped with Ctrl+C. The role accounts are scoped (the
 * operator reaches only the blending station, the technician only the lights' towns); the output is all Chinese by
 * default and all English with AGRILUME_LANG=en; the admin key's name is readable; what it says of alerts is true.
 */
const READY = /按 Ctrl\+C 停止|Press Ctrl\+C to stop/;

/** The demo started as a user starts it, ready once it says how to stop it. */
const startDemo = (dataDir: string, env: Record<string, string> = {}) =>
  startService(process.execPath, ["--import", "tsx", "scripts/demo.ts", "--lights", "3"], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH, AGRILUME_DATA_DIR: dataDir, AGRILUME_HTTP_PORT: "0", AGRILUME_MQTT_PORT: "0", ...env },
    readyMs: 150_000,
    ready: READY,
  });

/** The printed output without the progress lines (rewritten with \r). */
const printed = (out: string) =>
  out
    .split("\n")
    .map((l) => l.split("\r").at(-1) ?? "")
    .filter((l) => l.trim() !== "");

describe("npm run demo", () => {
  const dir = mkdtempSync(join(tmpdir(), "agrilume-demo-"));
  const running: ChildProcess[] = [];
  afterAll(() => {
    for (const c of running) if (c.exitCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /** Ctrl+C, as a user stops it; it says it stopped and exits 0 (also when a check failed, so the next run can start). */
  const checkThenStop = async (demo: Running, check: () => Promise<void>) => {
    try {
      await check();
    } finally {
      demo.child.kill("SIGINT");
      const code = await demo.exited;
      expect(code).toBe(0);
      expect(demo.stdout()).toMatch(/已停止：数据已写入|Stopped: all data written/);
    }
  };

  it("prints Chinese, a readable key name, scoped role accounts and the alerts as they are; its addresses answer", async () => {
    const demo = await startDemo(join(dir, "data"));
    running.push(demo.child);
    await checkThenStop(demo, async () => {
      const lines = printed(demo.stdout());
      const url = /(http:\/\/localhost:\d+)\/api\/v1\b/.exec(demo.stdout())?.[1] ?? "";
      const key = /agl_[A-Za-z0-9_-]+/.exec(demo.stdout())?.[0] ?? "";
      expect(url).not.toBe("");
      expect(key).not.toBe("");
      // no English words outside commands, addresses, keys, ids and user names
      for (const line of lines.filter((l) => !l.trimStart().startsWith("curl"))) {
        const words = line.replace(/\S+:\/\/\S+|agl_\S+|demo-[a-z]+\s+\S+|[A-Z]{2}-[A-Z]{2}-\d+|Agrilume|Ctrl\+C/g, "");
        expect(words, line).not.toMatch(/[a-z]{3,}/);
      }
      expect(demo.stdout()).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/); // no ISO timestamp
      const get = async (path: string, headers: Record<string, string> = { authorization: `Bearer ${key}` }) => {
        const res = await fetch(`${url}${path}`, { headers });
        expect(res.status, path).toBe(200);
        return res;
      };
      // the admin key's name, shown in the console's header, is words and a China time
      const me = (await (await get("/api/v1/me")).json()) as { name: string; role: string };
      expect(me).toMatchObject({ role: "admin", name: expect.stringMatching(/^演示管理员密钥 \d{4}-\d{2}-\d{2} \d{2}:\d{2}$/) });
      // every command it prints answers
      for (const line of lines.filter((l) => l.includes("curl -H"))) {
        const path = /(http:\/\/localhost:\d+)(\/[^' ]*)/.exec(line)?.[2] ?? "";
        await get(path);
      }
      expect((await get("/", {})).headers.get("content-type")).toContain("text/html");
      // what it says of alerts is what the service answers
      const alertsLine = lines.find((l) => l.includes("/alerts?state=open")) ?? "";
      const said = Number(/现在未处理的告警（条）：(\d+)/.exec(alertsLine)?.[1]);
      const open = ((await (await get("/api/v1/alerts?state=open")).json()) as { alerts: unknown[] }).alerts.length;
      expect(said).toBeLessThanOrEqual(open); // (an alert may be raised between the two)
      expect(demo.stdout()).not.toContain("约 10 分钟后出现一条告警");
      // the accounts: each role named in Chinese with its scope; signed in, each reaches only its scope
      const account = (name: string) => {
        const l = lines.find((x) => x.trimStart().startsWith(`${name} `)) ?? "";
        return { password: l.trim().split(/\s+/)[1] ?? "", text: l };
      };
      expect(account("demo-operator").text).toMatch(/站点操作员（范围：綦江区供销社智能配肥站）$/);
      expect(account("demo-technician").text).toMatch(/技术员（范围：来苏镇）$/);
      expect(account("demo-finance").text).toMatch(/财政局（范围：全区）$/);
      expect(account("demo-admin").text).toMatch(/管理员（范围：全区）$/);
      const signIn = async (name: string) => {
        const res = await fetch(`${url}/api/v1/session`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name, password: account(name).password }),
        });
        expect(res.status).toBe(200);
        return { cookie: (res.headers.get("set-cookie") ?? "").split(";")[0] ?? "" };
      };
      const operator = await signIn("demo-operator");
      const opDevices = (await (await get("/api/v1/devices", operator)).json()) as { devices: { family: string; station: string | null }[] };
      expect(opDevices.devices.length).toBeGreaterThan(0);
      expect(opDevices.devices.every((d) => d.family === "blender" && d.station === "qijiang")).toBe(true);
      const opAlerts = (await (await get("/api/v1/alerts", operator)).json()) as { alerts: { deviceId: string | null; town: string | null }[] };
      expect(opAlerts.alerts.filter((a) => a.town === "来苏镇")).toEqual([]);
      // the station's 300 t order carries the tonnes made before today (DOMAIN.md §3: 120 t), sent by the machine it was
      // started on (a batch from another machine is not counted: PROTOCOL.md §4)
      type Orders = { orders: { id: string; targetT: number }[] };
      const big = ((await (await get("/api/v1/orders?station=qijiang", operator)).json()) as Orders).orders.find((o) => o.targetT === 300);
      expect(big).toBeDefined();
      const history = async () => ((await (await get(`/api/v1/orders/${big?.id}`, operator)).json()) as { producedT: number }).producedT >= 119.9;
      expect(await waitUntil(history, "the 300 t order at 120 t", 30_000)).toBeTruthy();
      // no streetlight of 来苏镇 reaches the operator (whose alerts, then, it can neither see nor acknowledge)
      // (a town outside its scope asked for by name is refused: README "Access")
      const summary = await fetch(`${url}/api/v1/streetlights/summary?town=${encodeURIComponent("来苏镇")}`, { headers: operator });
      expect(summary.status).toBe(403);
      expect(((await (await get("/api/v1/streetlights/summary", operator)).json()) as { total: number }).total).toBe(0);
      expect((await fetch(`${url}/api/v1/devices/YC-LS-00001`, { headers: operator })).status).toBe(404); // (not even said to exist)
      const technician = await signIn("demo-technician");
      const techDevices = (await (await get("/api/v1/devices", technician)).json()) as { devices: { family: string; town: string }[] };
      expect(techDevices.devices.map((d) => [d.family, d.town])).toEqual([1, 2, 3].map(() => ["streetlight", "来苏镇"])); // (--lights 3)
      expect((await fetch(`${url}/api/v1/orders?station=qijiang`, { headers: technician })).status).toBe(403);
      expect(((await (await get("/api/v1/orders", technician)).json()) as { orders: unknown[] }).orders).toEqual([]);
    });
  }, 240_000);

  it("prints English with AGRILUME_LANG=en, and keeps the accounts of an earlier run scoped", async () => {
    const demo = await startDemo(join(dir, "data"), { AGRILUME_LANG: "en" });
    running.push(demo.child);
    await checkThenStop(demo, async () => {
      const out = demo.stdout();
      // (Chinese only in place names: the town, the station)
      expect(out).not.toMatch(/管理员|技术员|财政局|站点操作员|范围|演示|路灯|配肥机|告警|已启动|试试|停止/);
      expect(out).toMatch(/demo-operator\s+\S+\s+station operator \(scope: 綦江区供销社智能配肥站\)/);
      expect(out).toMatch(/demo-technician\s+\S+\s+technician \(scope: 来苏镇\)/);
      expect(out).toMatch(/open alerts now: \d+/);
      const key = /agl_[A-Za-z0-9_-]+/.exec(out)?.[0] ?? "";
      const url = /(http:\/\/localhost:\d+)\/api\/v1\b/.exec(out)?.[1] ?? "";
      const me = (await (await fetch(`${url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } })).json()) as { name: string };
      expect(me.name).toMatch(/^Demo admin key \d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    });
  }, 240_000);
});
