import { createServer } from "node:http";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, readSse, registerLight, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { POSTGRES_BIN, type Postgres, serviceAvailable, startPostgres } from "../harness/services.js";

const run = serviceAvailable("PostgreSQL", POSTGRES_BIN, "apt-get install postgresql");

type AlertView = { id: string; deviceId: string; type: string; state: string; history: { action: string; who: string }[] };

/**
 * A real webhook receiver counting the deliveries per path; a request to a path in `held` is answered only when the
 * test releases it (a channel that stalls the job sending to it).
 */
async function startCounter() {
  const got: { path: string; kind: string; text: string }[] = [];
  const held = new Map<string, () => void>();
  const holds = new Set<string>();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const parsed = JSON.parse(body || "{}") as { kind?: string; text?: string };
      got.push({ path, kind: parsed.kind ?? "", text: parsed.text ?? "" });
      const answer = () => res.writeHead(200, { "content-type": "application/json" }).end("{}");
      if (holds.has(path)) held.set(path, answer);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return {
    url,
    got,
    count: (path: string, kind = "digest") => got.filter((g) => g.path === path && g.kind === kind).length,
    hold: (path: string) => holds.add(path),
    waiting: (path: string) => held.has(path),
    release: (path: string) => {
      holds.delete(path);
      held.get(path)?.();
      held.delete(path);
    },
    close: () =>
      new Promise<void>((r) => {
        for (const f of held.values()) f();
        server.close(() => r());
      }),
  };
}

/**
 * Issue 18, item 2: two instances on one PostgreSQL agree on the alerts (a change made on one is on the other within
 * a second, and in its live stream), open one alert for a problem both see, and send the digest once, also when the
 * instance sending it stalls and its database session is terminated.
 */
describe.skipIf(!run)("two instances share alerts and claimed jobs on one PostgreSQL", () => {
  let postgres: Postgres;
  let a: TestApp;
  let b: TestApp;
  let receiver: Awaited<ReturnType<typeof startCounter>>;
  let url = "";
  /** A statement on the instances' database (the harness's `query` reads the cluster's default one). */
  const sql = async <T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(text, params)).rows as T[];
    } finally {
      await c.end();
    }
  };
  beforeAll(async () => {
    postgres = await startPostgres();
    receiver = await startCounter();
    url = await postgres.createDatabase("agrilume_shared");
    a = await startTestApp({ AGRILUME_STATE_URL: url, AGRILUME_INSTANCE_ID: "district-a" });
    b = await startTestApp({ AGRILUME_STATE_URL: url, AGRILUME_INSTANCE_ID: "district-b" });
    for (const id of ["SH-1", "SH-2", "SH-3"]) await registerLight(a, id);
    await registerLight(a, "SH-Z", { town: "朱沱镇", village: "河坝村" });
    await waitUntil(() => b.app.registry.get("SH-Z"), "B to know the lights registered on A", 15_000);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await receiver?.close();
    await postgres?.stop();
    postgres?.remove();
  });

  const alert = async (t: TestApp, id: string) => {
    const res = await t.api(`/api/v1/alerts/${id}`);
    return res.status === 200 ? ((await res.json()) as AlertView) : undefined;
  };
  /** A light's condition, as the streetlight monitor reports it to alerting (the entry every light rule goes through). */
  const condition = (t: TestApp, id: string, c: "dark") => t.app.streetlights.events.emit("condition", id, c, null, Date.now());

  it("an alert opened on A and acknowledged on B is acknowledged on A (told by PostgreSQL, not polled), and A's live stream shows it", async () => {
    const controller = new AbortController();
    const stream = await fetch(`${a.started.httpUrl}/api/v1/alerts/stream`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    const events: AlertView[] = [];
    const reading = readSse(stream, (d) => events.push(d as AlertView));
    try {
      condition(a, "SH-1", "dark");
      const opened = a.app.alerts.engine.openFor("SH-1", "dark");
      expect(opened).toBeDefined();
      const id = opened?.id ?? "";
      await waitUntil(() => alert(b, id), "B to have the alert opened on A", 15_000);
      const ack = await b.api(`/api/v1/alerts/${id}/ack`, { method: "POST", body: JSON.stringify({ comment: "在路上" }) });
      expect(ack.status).toBe(200);
      const seen = await waitUntil(
        async () => {
          const v = await alert(a, id);
          return v?.state === "acknowledged" && v;
        },
        "A to show the acknowledgement made on B",
        10_000,
      );
      expect(seen.history.map((h) => h.action)).toEqual(["fired", "acknowledged"]);
      await waitUntil(() => events.some((e) => e.id === id && e.state === "acknowledged"), "A's live stream to show B's acknowledgement", 10_000);
      // B sees its own change, and a comment made on A goes the other way
      expect(await b.api(`/api/v1/alerts/${id}/comments`, { method: "POST", body: JSON.stringify({ text: "换灯" }) }).then((r) => r.status)).toBe(
        201,
      );
      await waitUntil(async () => (await alert(a, id))?.history.some((h) => h.action === "commented"), "A to have B's comment", 10_000);
    } finally {
      controller.abort();
      await reading;
    }
  });

  it("20 reports of one fault at once, half on A and half on B, open one alert, which both hold", async () => {
    const opened = new Set<string>();
    const onChange = (x: { id: string; deviceId: string }, h: { action: string }, origin: string) => {
      if (x.deviceId === "SH-2" && h.action === "fired" && origin === "here") opened.add(x.id);
    };
    for (const t of [a, b]) t.app.alerts.engine.events.on("change", onChange);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => new Promise<void>((r) => setImmediate(() => r(condition(i % 2 === 0 ? a : b, "SH-2", "dark") as never)))),
    );
    const rows = async () =>
      sql<{ id: string; state: string }>(
        "SELECT id, state FROM alerts WHERE CAST(body AS json) ->> 'deviceId' = 'SH-2' AND CAST(body AS json) ->> 'type' = 'dark'",
      );
    // both engines opened one each at first (neither had heard of the other's yet): the database kept one
    const [kept] = await waitUntil(async () => {
      const r = await rows();
      const ids = [a.app.alerts.engine.openFor("SH-2", "dark")?.id, b.app.alerts.engine.openFor("SH-2", "dark")?.id];
      return r.length === 1 && ids[0] === r[0]?.id && ids[1] === r[0]?.id && r;
    }, "one alert, held by both");
    for (const t of [a, b]) t.app.alerts.engine.events.off("change", onChange);
    expect(opened.size).toBe(2); // (the race this is about did happen: each engine opened its own)
    expect(opened.has(kept?.id ?? "")).toBe(true);
    expect(kept?.state).toBe("firing");
    for (const t of [a, b]) {
      const open = (await (await t.api("/api/v1/alerts?state=open&type=dark")).json()) as { alerts: AlertView[] };
      expect(open.alerts.filter((x) => x.deviceId === "SH-2")).toHaveLength(1);
    }
    // and a second open alert for the problem cannot be written, whoever tries
    await expect(sql("INSERT INTO alerts (id, state, device_id, alert_type, body) VALUES ('x', 'firing', 'SH-2', 'dark', '{}')")).rejects.toThrow(
      /alerts_one_open/,
    );
  });

  it("a station made on A takes orders on B; an order made on B is open on A, and finished on A it leaves B (and B's live stream shows it)", async () => {
    const post = (t: TestApp, path: string, body: unknown) => t.api(path, { method: "POST", body: JSON.stringify(body) });
    expect((await post(a, "/api/v1/stations", { id: "QJ-SH", name: "綦江智能配肥站" })).status).toBe(201);
    const f = (await (await post(a, "/api/v1/formulas", { name: "水稻专用肥", grade: "15-15-15" })).json()) as { id: string };
    await waitUntil(() => b.app.blending.station("QJ-SH"), "B to know the station made on A", 15_000);
    const made = await post(b, "/api/v1/orders", {
      station: "QJ-SH",
      customer: "合作社",
      crop: "水稻",
      formulaId: f.id,
      targetT: 10,
      dueDate: "2031-04-01",
    });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: string };
    const listed = async (t: TestApp) =>
      ((await (await t.api("/api/v1/orders?state=planned")).json()) as { orders: { id: string }[] }).orders.some((o) => o.id === id);
    await waitUntil(() => listed(a), "A to list the order made on B", 15_000);
    expect(a.app.blending.formulaOf(a.app.blending.openOrders().find((o) => o.id === id) as never)?.id).toBe(f.id);
    // finished on A: it leaves B's open orders too, and the order's live stream on B says so
    const controller = new AbortController();
    const stream = await fetch(`${b.started.httpUrl}/api/v1/orders/${id}/stream`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      signal: controller.signal,
    });
    const progress: unknown[] = [];
    const reading = readSse(stream, (d) => progress.push(d));
    try {
      await waitUntil(() => progress.length >= 1, "the order's progress at once on B", 15_000);
      expect((await post(a, `/api/v1/orders/${id}/finish`, {})).status).toBe(200);
      await waitUntil(() => !b.app.blending.openOrders().some((o) => o.id === id), "B to drop the order finished on A", 15_000);
      expect(await listed(b)).toBe(false);
      await waitUntil(() => progress.length >= 2, "B's live stream to show the order finished on A", 15_000);
    } finally {
      controller.abort();
      await reading;
    }
  });

  it("a channel made on A is B's too, and the morning digest goes out once across both", async () => {
    const made = await a.api("/api/v1/channels", {
      method: "POST",
      body: JSON.stringify({ name: "来苏", type: "webhook", url: `${receiver.url}/laisu`, towns: ["来苏镇"] }),
    });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: string };
    await waitUntil(() => b.app.alerts.notifier.channels().some((c) => c.id === id), "B to know the channel made on A", 15_000);
    // five mornings, each with both instances' schedulers running the digest at once (the race a date kept in
    // `meta`, read then written, loses now and then: both read no date and both send)
    for (let day = 1; day <= 5; day++) {
      const now = Date.parse(`2031-01-0${day}T08:31:00+08:00`);
      const [fromA, fromB] = await Promise.all([a.app.alerts.digest.run(now), b.app.alerts.digest.run(now)]);
      expect([...fromA, ...fromB].sort()).toEqual(["朱沱镇", "来苏镇"].sort());
      expect(receiver.count("/laisu")).toBe(day);
      // once a day: later runs on either send nothing
      expect(await a.app.alerts.digest.run(now + 60_000)).toEqual([]);
      expect(await b.app.alerts.digest.run(now + 60_000)).toEqual([]);
      expect(receiver.count("/laisu")).toBe(day);
    }
  });

  it("the instance sending the digest stalls and its session is terminated: B takes the job over, and neither sends twice", async () => {
    const made = await a.api("/api/v1/channels", {
      method: "POST",
      body: JSON.stringify({ name: "朱沱", type: "webhook", url: `${receiver.url}/zhutuo`, towns: ["朱沱镇"] }),
    });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: string };
    await waitUntil(() => b.app.alerts.notifier.channels().some((c) => c.id === id), "B to know the channel made on A", 15_000);
    const now = Date.parse("2031-01-11T08:31:00+08:00");
    // A sends the towns in turn (来苏镇 first: its lights were registered first); 来苏镇's channel stalls it
    receiver.hold("/laisu");
    const runA = a.app.alerts.digest.run(now);
    await waitUntil(() => receiver.waiting("/laisu"), "A to be sending to 来苏镇's channel", 15_000);
    const [session] = await postgres.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'agrilume district-a'");
    expect(session).toBeDefined();
    await postgres.query("SELECT pg_terminate_backend($1)", [session?.pid]);
    await waitUntil(
      async () => (await postgres.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [session?.pid])).length === 0,
      "A's session to end",
      15_000,
    );
    // B finds the claim's holder gone, takes the job over and sends what A had not begun: 朱沱镇's digest (来苏镇's
    // deliveries are recorded as A's: B does not send them again)
    await b.app.alerts.digest.run(now);
    expect(receiver.count("/zhutuo")).toBe(1);
    expect(receiver.count("/laisu")).toBe(6); // (the five mornings before, and today's from A, still held)
    // A goes on when its send completes: its claim was taken over, so it stops (and 来苏镇's went out once, from A)
    receiver.release("/laisu");
    expect(await runA).toEqual(["来苏镇"]);
    expect(receiver.count("/laisu")).toBe(6);
    expect(receiver.count("/zhutuo")).toBe(1);
    const claims = await sql<{ holder: string; token: string; done_at: string | null }>(
      "SELECT holder, token, done_at FROM job_claims WHERE job = 'digest' AND due = '2031-01-11'",
    );
    expect(claims).toEqual([{ holder: "district-b", token: "2", done_at: expect.any(String) }]);
    const deliveries = await sql<{ n: string }>("SELECT count(*) AS n FROM deliveries WHERE id LIKE 'digest/2031-01-11/%'");
    expect(Number(deliveries[0]?.n)).toBe(2);
  });
});
