import { connect as netConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePayload } from "../devices/index.js";
import { ADMIN_KEY, connectDevice, publish, reading, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { csvCell, csvDocument } from "../src/platform/csv.js";
import { createBuckets, createGate } from "../src/transport/auth-limiter.js";

/** Issue 16, V1 and V2: one device's message must never stop the stores for everyone, nor count twice. */
describe("hostile payloads", () => {
  let t: TestApp;
  let dev: { id: string; secret: string };
  let other: { id: string; secret: string };
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_LOG_LEVEL: "warn" });
    dev = await registerLight(t, "HOST-A");
    other = await registerLight(t, "HOST-B");
  });
  afterAll(() => t.stop());

  const rejects = async (id: string | null) =>
    (await (await t.api(id ? `/api/v1/devices/${id}/rejects` : "/api/v1/rejects")).json()) as {
      counts: Record<string, number>;
      recent: { reason: string; detail: string }[];
    };

  /** After a hostile message, the other device's reading must still become queryable (the store writer is not stuck). */
  const otherStillStored = async (ts: number) => {
    const c = await connectDevice(t, other);
    await publish(c, `streetlight/${other.id}/telemetry`, JSON.stringify(reading(ts)));
    c.end();
    await waitUntil(
      async () =>
        (await t.app.telemetry.raw({ deviceId: other.id, measurement: "streetlight_telemetry", from: ts, to: ts + 1, limit: 10 })).length === 1,
      "the other device's reading stored",
    );
    // every sink has it too (the reject records are written after the readings of the same batch)
    await t.app.writer.waitFor(t.app.wal.lastSeq());
  };

  it("stores an ordinary reading (the check the others rely on)", async () => {
    await otherStillStored(Date.now() - 20_000);
  });

  it("a payload nested 30,000 deep (60 KB, under the size limit) is acknowledged, refused as invalid and kept, not retried forever (found by a new user)", async () => {
    const deepDev = await registerLight(t, "HOST-DEEP");
    const c = await connectDevice(t, deepDev);
    const now = Date.now();
    // with an escape too, so the surrogate check (which walks values) would see it
    await publish(c, `streetlight/${deepDev.id}/telemetry`, `{"x":"\\u0041","a":${"[".repeat(30_000)}${"]".repeat(30_000)}}`);
    await publish(c, `streetlight/${deepDev.id}/status`, `{"online":true,"fw":${'{"a":'.repeat(20)}1${"}".repeat(20)}}`);
    c.end();
    await otherStillStored(now - 1000);
    const r = await rejects(deepDev.id);
    expect(r.counts).toEqual({ invalid: 2 });
    expect(r.recent.map((x) => x.detail)).toEqual([expect.stringMatching(/嵌套超过 16 层/), expect.stringMatching(/嵌套超过 16 层/)]);
  });

  it("V1: a lone UTF-16 surrogate, in a value or a key, is refused as invalid, and everything else is still stored", async () => {
    const c = await connectDevice(t, dev);
    const now = Date.now();
    // JSON escapes of unpaired surrogates: valid UTF-8 bytes, invalid Unicode text
    await publish(c, `streetlight/${dev.id}/status`, '{"online":true,"fw":"\\ud800"}');
    await publish(c, `streetlight/${dev.id}/telemetry`, JSON.stringify(reading(now - 5000)).replace('"faults":[]', '"faults":[],"x\\udc00":1'));
    // a non-JSON payload that starts with an emoji: the parser's message must not keep half of it
    await publish(c, `streetlight/${dev.id}/telemetry`, "😀😀😀 not json");
    c.end();
    await otherStillStored(now - 1000);
    const r = await rejects(dev.id);
    expect(r.counts.invalid).toBe(2);
    expect(r.counts.bad_json).toBe(1);
    for (const x of r.recent) expect(x.detail.isWellFormed(), x.detail).toBe(true);
    expect(
      r.recent
        .filter((x) => x.reason === "invalid")
        .map((x) => x.detail)
        .join(" "),
    ).toMatch(/surrogate|代理/);
    // the store writer is healthy
    expect((await t.api("/ready")).status).toBe(200);
  });

  it("V13: a device's publish on its own command topic is recorded as a reject and never delivered", async () => {
    const c = await connectDevice(t, dev, { reconnectPeriod: 0 });
    await c.subscribeAsync(`streetlight/${dev.id}/cmd/#`, { qos: 1 });
    let delivered = 0;
    c.on("message", () => delivered++);
    const before = (await rejects(dev.id)).counts.bad_topic ?? 0;
    await expect(publish(c, `streetlight/${dev.id}/cmd/ping`, "{}")).rejects.toThrow(/closed/);
    // the service's own command still reaches a reconnected device, so the subscription works
    const again = await connectDevice(t, dev, { reconnectPeriod: 0 });
    await again.subscribeAsync(`streetlight/${dev.id}/cmd/#`, { qos: 1 });
    const got = new Promise<string>((resolve) => again.once("message", (topic) => resolve(topic)));
    await t.app.broker?.publish(`streetlight/${dev.id}/cmd/ping`, Buffer.from("{}"), false);
    expect(await got).toBe(`streetlight/${dev.id}/cmd/ping`);
    again.end();
    expect(delivered).toBe(0);
    await waitUntil(async () => ((await rejects(dev.id)).counts.bad_topic ?? 0) === before + 1, "the reject recorded");
  });

  it("V2: a payload with a duplicate key is refused as invalid (validation and aggregates must see one value)", async () => {
    const c = await connectDevice(t, dev);
    const ts = Date.now() - 3000;
    const body = JSON.stringify(reading(ts)).replace('"soc":78', '"soc":99999,"soc":78');
    await publish(c, `streetlight/${dev.id}/telemetry`, body);
    // a colon inside a string value is not a key: such a payload is still accepted
    await publish(c, `streetlight/${dev.id}/status`, '{"online":true,"fw":"v1:2:3"}');
    c.end();
    await otherStillStored(Date.now() - 500);
    const r = await rejects(dev.id);
    expect(r.recent.find((x) => x.reason === "invalid" && /soc/.test(x.detail))).toBeDefined();
    expect(await t.app.telemetry.count({ deviceId: dev.id, measurement: "streetlight_telemetry" })).toBe(0);
    const agg = await t.app.telemetry.aggregate({
      deviceId: dev.id,
      measurement: "streetlight_telemetry",
      from: ts - 60_000,
      to: ts + 60_000,
      every: "hour",
    } as never);
    expect(agg).toEqual([]);
    expect(await t.app.telemetry.count({ deviceId: dev.id, measurement: "streetlight_status" })).toBeGreaterThanOrEqual(1);
  });
});

describe("decodePayload: sound JSON only", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const now = Date.now();
  const status = (json: string) => decodePayload("streetlight", "status", enc(json), now, 65_536);
  it.each([
    ['{"online":true,"fw":"a:b"}', true],
    ['{"online":true, "fw" :"x"}', true],
    ['{"online":true,"fw":"\\"online\\":"}', true],
    ['{"online":true,"fw":"\\ud83d\\ude00"}', true], // a surrogate pair is a character
    ['{"online":true,"online":false}', false],
    ['{"online":true,"fw":"x", "fw" : "y"}', false],
    ['{"online":true,"fw":"\\ud800"}', false],
    ['{"online":true,"fw":"\\udc00x"}', false],
    ['{"online":true,"\\ud800":1}', false],
  ])("%s → accepted %s", (json, ok) => {
    expect(status(json).ok).toBe(ok);
  });
  it("refuses nesting deeper than 16 levels, counted outside strings only", () => {
    const nested = (n: number) => `{"online":true,"x":${"[".repeat(n - 1)}${"]".repeat(n - 1)}}`;
    expect(status(nested(16)).ok).toBe(true);
    const deep = status(nested(17));
    expect(deep.ok).toBe(false);
    if (!deep.ok) expect(deep.detail).toEqual({ code: "payload_too_deep", params: { max: 16 } });
    // brackets inside a string (with an escaped quote before them) are text, not nesting
    expect(status(`{"online":true,"fw":"\\"${"[".repeat(40)}"}`).ok).toBe(true);
  });
  it("finds a duplicate key in a nested object, and not across sibling objects", () => {
    const tel = (extra: string) =>
      decodePayload(
        "blender",
        "telemetry",
        enc(JSON.stringify({ ts: now, state: "idle", hopperKg: { urea: 1 } }).replace('"urea":1', extra)),
        now,
        65_536,
      );
    const dup = tel('"urea":1,"urea":2');
    expect(dup.ok).toBe(false);
    // (the problem is a code with the key, worded by the service: "key "urea" appears twice in one object")
    if (!dup.ok) expect(dup.detail).toEqual({ code: "payload_duplicate_key", params: { path: "urea" } });
  });
});

describe("bounded cost per client (issue 16, V8 and V11)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_AUTH_PER_SOURCE_PER_MIN: "5", AGRILUME_MQTT_WS_PORT: "0" });
  });
  afterAll(() => t.stop());

  it("V8: unauthenticated CONNECTs past an address's budget are refused without a credential check; proved devices still connect", async () => {
    const known = await registerLight(t, "FLOOD-OK");
    const fresh = await registerLight(t, "FLOOD-NEW");
    (await connectDevice(t, known)).end(); // proved once (a slow check, given back: the secret was right): its reconnects cost none
    const outcomes = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        connectDevice(t, { id: `FLOOD-X${i}`, secret: "wrong-secret-wrong-secret" }).then(
          (c) => {
            c.end();
            return "connected";
          },
          (e: unknown) => String(e),
        ),
      ),
    );
    expect(outcomes.filter((o) => o === "connected")).toEqual([]);
    expect(outcomes.filter((o) => /Bad username or password/.test(o)).length).toBe(5);
    expect(outcomes.filter((o) => /Server unavailable/.test(o)).length).toBe(19);
    // the proved device connects during the spent budget; a device never proved since start must wait for it to refill
    const again = await connectDevice(t, known);
    expect(again.connected).toBe(true);
    again.end();
    await expect(connectDevice(t, fresh)).rejects.toThrow(/Server unavailable/);
    const metrics = await (await t.api("/metrics")).text();
    expect(metrics).toMatch(/agrilume_mqtt_refused_total\{reason="auth_throttled"\} 20/);
  });

  it("V8: lights behind one address (a carrier NAT) reconnecting after a restart are not refused: right secrets give their check back", async () => {
    const own = await startTestApp({ AGRILUME_AUTH_PER_SOURCE_PER_MIN: "5" });
    try {
      const fleet = await Promise.all(Array.from({ length: 12 }, (_, i) => registerLight(own, `NAT-${i}`)));
      // 12 never-proved devices from one address, budget 5, one after another (each a slow check)
      for (const dev of fleet) {
        const c = await connectDevice(own, dev);
        expect(c.connected).toBe(true);
        c.end();
      }
    } finally {
      await own.stop();
    }
  });

  it("V11: a WebSocket frame larger than the packet limit is refused from its header (close 1009), not buffered", async () => {
    const { WebSocket } = await import("ws");
    const ws = new WebSocket(`ws://127.0.0.1:${t.started.ports.ws}`, "mqtt");
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const code = new Promise<number>((resolve) => ws.once("close", (c) => resolve(c)));
    ws.send(Buffer.alloc(3 << 20)); // 3 MiB; the limit is 2 MiB
    expect(await code).toBe(1009);
  });
});

describe("refusals answered after a pause (issue 16, V8)", () => {
  it("a refused CONNECT waits AGRILUME_MQTT_REFUSE_DELAY_MS for its answer, so an attacker retrying at once is held to one try per pause", async () => {
    const t = await startTestApp({ AGRILUME_MQTT_REFUSE_DELAY_MS: "400" });
    try {
      const dev = await registerLight(t, "PAUSE-1");
      const wrong = async (id: string) => {
        const t0 = performance.now();
        const e = await connectDevice(t, { id, secret: "wrong-secret-wrong-secret" }, { reconnectPeriod: 0 }).then(
          (c) => {
            c.end(true);
            return "connected";
          },
          (err: unknown) => String(err),
        );
        return { e, ms: performance.now() - t0 };
      };
      // a registered device with a wrong secret, and an unknown one: both refused, neither before the pause
      for (const id of [dev.id, "PAUSE-UNKNOWN"]) {
        const r = await wrong(id);
        expect(r.e).toMatch(/Bad username or password/);
        expect(r.ms).toBeGreaterThanOrEqual(395);
      }
      // the right secret is not held back by the refusals before it
      const ok = await connectDevice(t, dev);
      expect(ok.connected).toBe(true);
      ok.end(true);
    } finally {
      await t.stop();
    }
  });
});

describe("reconnect storms (issue 16, V7)", () => {
  let t: TestApp;
  beforeAll(async () => {
    // answered at once: this test counts thirty connects one after another
    t = await startTestApp({ AGRILUME_MQTT_REFUSE_DELAY_MS: "0" });
  });
  afterAll(() => t.stop());

  it("V7: one device id reconnecting from many clients is refused past its per-minute connects, and counted", async () => {
    const dev = await registerLight(t, "STORM-1");
    const first = await connectDevice(t, dev, { reconnectPeriod: 0 });
    const outcomes: string[] = [];
    for (let i = 0; i < 30; i++) {
      outcomes.push(
        await connectDevice(t, dev, { reconnectPeriod: 0 }).then(
          (c) => {
            c.end(true);
            return "connected";
          },
          (e: unknown) => String(e),
        ),
      );
    }
    // 12 a minute: the first connect and 11 takeovers, then refusals
    expect(outcomes.filter((o) => o === "connected").length).toBe(11);
    expect(outcomes.filter((o) => /Server unavailable/.test(o)).length).toBe(19);
    const metrics = await (await t.api("/metrics")).text();
    expect(metrics).toMatch(/agrilume_mqtt_refused_total\{reason="reconnect_storm"\} 19/);
    first.end(true);
  });
});

describe("presence history", () => {
  it("records a storm's events in one batch, every one of them, in order", async () => {
    const t = await startTestApp();
    try {
      const events = Array.from({ length: 1234 }, (_, i) => ({
        deviceId: `P-${i % 7}`,
        online: i % 2 === 0,
        cause: "connected",
        at: 1_700_000_000_000 + i,
      }));
      await t.app.state.presence.insertPresenceEvents(events);
      const p3 = await t.app.state.presence.presenceEvents("P-3", 1000);
      expect(p3.length).toBe(events.filter((e) => e.deviceId === "P-3").length);
      expect(p3[0]).toEqual(events.filter((e) => e.deviceId === "P-3").at(-1));
    } finally {
      await t.stop();
    }
  });
});

describe("auth limiter", () => {
  it("refills a key's budget over a minute", () => {
    let now = 0;
    const buckets = createBuckets({ perMinute: 6, clock: () => now });
    expect(Array.from({ length: 8 }, () => buckets.take("a"))).toEqual([true, true, true, true, true, true, false, false]);
    expect(buckets.take("b")).toBe(true);
    now += 10_000; // a sixth of a minute: one more
    expect([buckets.take("a"), buckets.take("a")]).toEqual([true, false]);
  });
  it("forgets keys rather than grow past its bound", () => {
    const buckets = createBuckets({ perMinute: 6, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) buckets.take(`k${i}`);
    expect(buckets.size()).toBeLessThanOrEqual(100);
  });
  it("bounds slow checks at once and waiting", async () => {
    const gate = createGate({ concurrent: 1, queue: 1 });
    let release: () => void = () => undefined;
    const first = gate.run(() => new Promise<string>((r) => (release = () => r("first"))));
    const second = gate.run(async () => "second");
    expect(await gate.run(async () => "third")).toBeNull();
    expect(gate.state()).toEqual({ inFlight: 1, waiting: 1 });
    release();
    expect([await first, await second]).toEqual(["first", "second"]);
    expect(gate.state()).toEqual({ inFlight: 0, waiting: 0 });
  });
});

describe("slow HTTP clients (issue 16, V12)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_HTTP_REQUEST_TIMEOUT_S: "1" });
  });
  afterAll(() => t.stop());

  /** Sends `head` and part of a body, then nothing: resolves with what the server said before it closed the socket. */
  const slowBody = (head: string) =>
    new Promise<string>((resolve, reject) => {
      const url = new URL(t.started.httpUrl);
      const socket = netConnect(Number(url.port), "127.0.0.1", () =>
        socket.write(`${head}\r\ncontent-length: 100000\r\ncontent-type: text/csv\r\n\r\nid,family\r\n`),
      );
      let said = "";
      socket.on("data", (d) => {
        said += d.toString("latin1");
      });
      socket.on("close", () => resolve(said));
      socket.on("error", reject);
    });

  it("closes a request whose body never finishes (idle past the timeout; 408 once Node's periodic check sees it)", async () => {
    const said = await slowBody(`POST /api/v1/devices/import HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${ADMIN_KEY}`);
    expect(said === "" || /^HTTP\/1\.1 408/.test(said), said).toBe(true);
    if (said !== "") expect(said).toContain('"code":"request_timeout"');
  });

  it("a URL with raw UTF-8 (a town's name pasted into curl) gets the JSON error every other error has, saying to encode it", async () => {
    const url = new URL(t.started.httpUrl);
    const said = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(Number(url.port), "127.0.0.1", () =>
        socket.write(
          Buffer.concat([Buffer.from("GET /api/v1/streetlights/summary?town="), Buffer.from("仙龙镇"), Buffer.from(" HTTP/1.1\r\nhost: x\r\n\r\n")]),
        ),
      );
      let out = "";
      socket.on("data", (d) => {
        out += d.toString("utf8");
      });
      socket.on("close", () => resolve(out));
      socket.on("error", reject);
    });
    expect(said).toMatch(/^HTTP\/1\.1 400/);
    expect(said).toMatch(/content-type: application\/json; charset=utf-8/i);
    const body = JSON.parse(said.slice(said.indexOf("\r\n\r\n") + 4)) as { error: { code: string; message: string; params: unknown } };
    expect(body.error).toEqual({ code: "bad_request", message: expect.stringContaining("请对查询参数做 URL 编码"), params: { reason: "url" } });
  });

  it("closes it also after answering 401 without a key", async () => {
    const said = await slowBody("POST /api/v1/devices/import HTTP/1.1\r\nhost: x");
    expect(said).toMatch(/^HTTP\/1\.1 401/);
  });
});

describe("CSV we write (issue 16, V6)", () => {
  it("neutralises cells that a spreadsheet would run as a formula; numbers stay numbers", () => {
    expect(
      ['=HYPERLINK("http://x","点我")', "+1", "-cmd", "@SUM(A1)", "\tx", "\rx", "道路", "a=b", -0.3, 12, null, 'say "hi"', "x,y"].map(csvCell),
    ).toEqual([
      `"'=HYPERLINK(""http://x"",""点我"")"`,
      "'+1",
      "'-cmd",
      "'@SUM(A1)",
      "'\tx",
      `"'\rx"`,
      "道路",
      "a=b",
      "-0.3",
      "12",
      "",
      `"say ""hi"""`,
      `"x,y"`,
    ]);
    expect(csvDocument([["a", "=1"]])).toBe("\uFEFFa,'=1\r\n");
  });

  it("the verification report's CSV carries an imported claim's formula as text", async () => {
    const t = await startTestApp();
    try {
      const csv = [
        "projectId,town,village,road,year,approvedLights,subsidyYuan,deviceId,lon,lat,controllerSerial,imei,installedAt",
        '"=HYPERLINK(""http://evil.example"",""查看"")",来苏镇,梳妆台村,@SUM(1),2025,10,2700,INJ-1,105.9,29.3,SN-X,860000000009999,2025-06-01',
      ].join("\n");
      const imported = await t.api("/api/v1/projects/import", { method: "POST", body: csv, headers: { "content-type": "text/csv" } });
      expect(imported.status).toBe(200);
      const report = await (await t.api("/api/v1/verification/report.csv")).text();
      const row = report.split("\r\n").find((l) => l.startsWith("INJ-1"));
      expect(row).toContain(`"'=HYPERLINK(""http://evil.example"",""查看"")"`);
      expect(row).toContain(",'@SUM(1),");
    } finally {
      await t.stop();
    }
  });
});
