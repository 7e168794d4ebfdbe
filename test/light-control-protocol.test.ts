import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Ack, topics } from "../devices/index.js";
import { connectDevice, publish, startTestApp, type TestApp, waitUntil } from "../harness/helpers.js";
import { type LightControlState, newControlState, obeyCommands } from "../simulators/obey.js";

/**
 * Issue 22, as a tester with real MQTT lights found it: delivery to clean-session lights, retained profiles, the
 * time command, answers that name no command of theirs, and the bodies and queries the API must refuse. A real
 * aedes broker, real MQTT clients (the simulator's v1.1 controller, simulators/obey.ts), a real state store.
 */
const TOWN = "来苏镇";
const OTHER = "三角镇";
const id = (i: number) => `PL-${String(i).padStart(4, "0")}`;

type Light = { client: MqttClient | null; state: LightControlState; inbox: { topic: string; body: string }[]; answers: Ack[]; secret: string };

describe("streetlight control against real lights (protocol v1.1)", () => {
  let t: TestApp;
  const lights = new Map<string, Light>();
  let techA = "";
  const post = async (path: string, body: unknown, key?: string) =>
    t.api(path, { method: "POST", body: JSON.stringify(body), ...(key ? { key } : {}) });
  const get = async <T>(path: string, key?: string) => (await (await t.api(path, key ? { key } : {})).json()) as T;
  const light = (lightId: string) => lights.get(lightId) as Light;

  /** A clean-session light connects; a v1.1 controller subscribes to its `cmd/#` once connected (after CONNACK). */
  const goOnline = async (lightId: string, opts: { obey?: boolean } = {}) => {
    const l = light(lightId);
    const client = await connectDevice(t, { id: lightId, secret: l.secret }, { clean: true });
    client.on("message", (topic, payload) => l.inbox.push({ topic, body: payload.toString() }));
    if (opts.obey !== false) await obeyCommands(client, lightId, l.state, { onAnswer: (a) => l.answers.push(a) });
    l.client = client;
    return client;
  };
  const goOffline = async (lightId: string) => {
    light(lightId).client?.end(true);
    light(lightId).client = null;
    await waitUntil(() => !t.app.presence.isOnline(lightId), "the light offline");
  };
  const commands = async (lightId: string) =>
    (
      await get<{ commands: { id: string; name: string; state: string; answeredAt: string | null; reason: string | null; body: unknown }[] }>(
        `/api/v1/control/commands?deviceId=${lightId}&limit=20`,
      )
    ).commands;

  beforeAll(async () => {
    t = await startTestApp();
    const rows = Array.from({ length: 12 }, (_, i) => `${id(i + 1)},streetlight,${TOWN},梳妆台村,29.35,105.91,30`);
    rows.push(`${id(50)},streetlight,${OTHER},某村,29.35,105.91,30`);
    const res = await t.api("/api/v1/devices/import", {
      method: "POST",
      body: `id,family,town,village,lat,lon,lampW\n${rows.join("\n")}\n`,
      headers: { "content-type": "text/csv" },
    });
    expect(res.status).toBe(201);
    for (const d of ((await res.json()) as { devices: { id: string; secret: string }[] }).devices) {
      lights.set(d.id, { client: null, state: newControlState(), inbox: [], answers: [], secret: d.secret });
    }
    techA = (await t.app.apiKeys.create({ name: "tech-a", role: "technician", towns: [TOWN] })).key;
  }, 60_000);
  afterAll(async () => {
    for (const l of lights.values()) l.client?.end(true);
    await t.stop();
  });

  it("a command made while a clean-session light is offline reaches it once it has subscribed, and is applied", async () => {
    const lightId = id(1);
    const res = await post(
      "/api/v1/control/commands",
      { deviceId: lightId, command: { name: "override", override: { action: "dim", pct: 30, minutes: 60 } } },
      techA,
    );
    expect(res.status).toBe(201);
    const c = (await res.json()) as { id: string; state: string };
    expect(c.state).toBe("created");
    await goOnline(lightId);
    await waitUntil(() => light(lightId).answers.some((a) => a.id === c.id), "the light's answer to the queued override");
    expect(light(lightId).state.override?.pct).toBe(30);
    const after = await waitUntil(async () => {
      const x = (await commands(lightId)).find((y) => y.id === c.id);
      return x?.state === "applied" ? x : false;
    }, "the command applied");
    expect(after.answeredAt).not.toBeNull();
  });

  it("a profile replaced while the light is offline, then expired unsent, leaves no stale retained profile; the light's status says expired", async () => {
    const lightId = id(2);
    await goOnline(lightId);
    const a = (await (
      await post(
        "/api/v1/control/commands",
        { deviceId: lightId, command: { name: "profile", profile: { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct: 80 }] } } },
        techA,
      )
    ).json()) as { id: string };
    await waitUntil(() => light(lightId).answers.some((x) => x.id === a.id), "profile A applied");
    await goOffline(lightId);
    const b = await post(
      "/api/v1/control/commands",
      {
        deviceId: lightId,
        command: { name: "profile", profile: { mode: "dusk_plus", hours: 6, stages: [{ afterDuskH: 0, pct: 60 }] } },
        expiresInH: 0.0002,
      },
      techA,
    );
    expect(b.status).toBe(201);
    const bId = ((await b.json()) as { id: string }).id;
    await new Promise((r) => setTimeout(r, 900));
    await t.app.control.expire(); // (unless the service's own pass every 30 s just did: the state below says which)
    light(lightId).inbox = [];
    await goOnline(lightId);
    await new Promise((r) => setTimeout(r, 700));
    // neither the old profile A (retained before) nor the expired B: the broker holds nothing for this light
    expect(light(lightId).inbox.filter((m) => m.body.length > 0)).toEqual([]);
    const view = await get<{ profileStatus: string; judgedBy: string; appliedProfile: unknown }>(`/api/v1/streetlights/${lightId}/control`, techA);
    // it never answered B: B expired (not "rejected"); what it runs is still A, which it confirmed
    expect(view).toMatchObject({ profileStatus: "expired", judgedBy: "applied", appliedProfile: { stages: [{ afterDuskH: 0, pct: 80 }] } });
    const cs = await commands(lightId);
    expect(cs.find((x) => x.id === bId)).toMatchObject({ state: "expired" });
  });

  it("a superseded command gets no answeredAt; the light's late `applied` to it is recorded as what it runs", async () => {
    const lightId = id(3);
    const client = await goOnline(lightId, { obey: false }); // subscribes, but answers by hand below
    await client.subscribeAsync(topics.commandFilter("streetlight", lightId), { qos: 1 });
    const profile = (pct: number) => ({ name: "profile", profile: { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct }] } });
    const a = (await (await post("/api/v1/control/commands", { deviceId: lightId, command: profile(70) }, techA)).json()) as { id: string };
    await waitUntil(() => light(lightId).inbox.some((m) => m.body.includes(a.id)), "profile A delivered");
    const b = (await (await post("/api/v1/control/commands", { deviceId: lightId, command: profile(40) }, techA)).json()) as { id: string };
    const superseded = (await commands(lightId)).find((x) => x.id === a.id);
    expect(superseded).toMatchObject({ state: "expired", reason: "superseded", answeredAt: null });
    // the light had applied A before B arrived: its answer comes now
    await publish(client, topics.ack(lightId), JSON.stringify({ id: a.id, cmd: "profile", result: "applied" }));
    const late = await waitUntil(async () => {
      const x = (await commands(lightId)).find((y) => y.id === a.id);
      return x?.state === "applied" ? x : false;
    }, "A's late answer recorded");
    expect(late.answeredAt).not.toBeNull();
    const view = await get<{ appliedProfile: { stages: { pct: number }[] }; profileStatus: string }>(`/api/v1/streetlights/${lightId}/control`);
    expect(view.appliedProfile.stages[0]?.pct).toBe(70);
    expect(view.profileStatus).toBe("pending"); // B is still on its way
    await publish(client, topics.ack(lightId), JSON.stringify({ id: b.id, cmd: "profile", result: "applied" }));
    await waitUntil(
      async () =>
        (await get<{ appliedProfile: { stages: { pct: number }[] } }>(`/api/v1/streetlights/${lightId}/control`)).appliedProfile.stages[0]?.pct ===
        40,
      "B applied",
    );
  });

  it("a time command carries the clock of its send, and only the newest one waits for a light", async () => {
    const lightId = id(4);
    const first = (await (await post("/api/v1/control/commands", { deviceId: lightId, command: { name: "time" } }, techA)).json()) as { id: string };
    await new Promise((r) => setTimeout(r, 300));
    const second = (await (await post("/api/v1/control/commands", { deviceId: lightId, command: { name: "time" } }, techA)).json()) as { id: string };
    expect((await commands(lightId)).find((x) => x.id === first.id)).toMatchObject({ state: "expired", reason: "superseded", answeredAt: null });
    await new Promise((r) => setTimeout(r, 400));
    const before = Date.now();
    await goOnline(lightId);
    await waitUntil(() => light(lightId).answers.some((a) => a.id === second.id), "the time applied");
    const times = light(lightId).inbox.filter((m) => m.topic === topics.command("streetlight", lightId, "time"));
    expect(times).toHaveLength(1);
    const sent = JSON.parse(times[0]?.body ?? "{}") as { id: string; time: { serverMs: number } };
    expect(sent.id).toBe(second.id);
    expect(sent.time.serverMs).toBeGreaterThanOrEqual(before);
    // and what is stored is what was sent
    expect((await commands(lightId)).find((x) => x.id === second.id)?.body).toEqual({ serverMs: sent.time.serverMs });
  });

  it("reads a light's clock from its status message and sends it the time", async () => {
    const lightId = id(5);
    const l = light(lightId);
    const client = await goOnline(lightId);
    l.state.clockOffsetMs = 10 * 60_000;
    await publish(client, topics.uplink("streetlight", lightId, "status"), JSON.stringify({ online: true, clock: Date.now() + 10 * 60_000 }));
    await waitUntil(() => l.state.clockOffsetMs === 0, "the light's clock set by a time command");
    const cs = await waitUntil(async () => {
      const x = await commands(lightId);
      return x.some((c) => c.name === "time" && c.state === "applied") ? x : false;
    }, "the time command applied");
    expect(cs.filter((c) => c.name === "time")).toHaveLength(1);
  });

  it("refuses a month outside 2000-01…2100-12 with 400 and a message, in JSON and XLSX", async () => {
    for (const month of ["0000-01", "0099-01", "9999-12", "1999-12", "2101-01"]) {
      for (const path of ["/api/v1/streetlights/energy", "/api/v1/streetlights/energy.xlsx"]) {
        const res = await t.api(`${path}?month=${month}`);
        expect(res.status, `${path} ${month}`).toBe(400);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("validation");
        expect(body.error.message).toContain("2000-01");
      }
    }
    expect((await t.api("/api/v1/streetlights/energy?month=2000-01")).status).toBe(200);
    expect((await t.api("/api/v1/streetlights/energy?month=2100-12")).status).toBe(200);
  });

  it("refuses a config whose battery is not the light's registered one (422), and takes the registered one", async () => {
    const lightId = id(6);
    const wrong = await post(
      "/api/v1/control/commands",
      { deviceId: lightId, command: { name: "config", config: { lvdV: 10.2, battery: { chemistry: "lifepo4", nominalV: 12 } } } },
      techA,
    );
    expect(wrong.status).toBe(422);
    const err = (await wrong.json()) as { error: { code: string; message: string } };
    expect(err.error.code).toBe("validation");
    expect(err.error.message).toContain(lightId);
    const same = await post(
      "/api/v1/control/commands",
      { deviceId: lightId, command: { name: "config", config: { lvdV: 11.2, battery: { chemistry: null, nominalV: 12 } } } },
      techA,
    );
    expect(same.status).toBe(201);
    expect(((await same.json()) as { body: unknown }).body).toEqual({ lvdV: 11.2, battery: { chemistry: null, nominalV: 12 } });
  });

  it("refuses ambiguous bodies: two starts in a stage, dusk_plus hours outside 1–16, hours on dusk_to_dawn, an off with a level", async () => {
    const bad = [
      {
        name: "profile",
        profile: {
          mode: "dusk_to_dawn",
          stages: [
            { afterDuskH: 0, pct: 100 },
            { afterDuskH: 3, beforeDawnH: 1, at: "23:00", pct: 50 },
          ],
        },
      },
      { name: "profile", profile: { mode: "dusk_plus", hours: 0.5, stages: [{ afterDuskH: 0, pct: 100 }] } },
      { name: "profile", profile: { mode: "dusk_plus", hours: 17, stages: [{ afterDuskH: 0, pct: 100 }] } },
      { name: "profile", profile: { mode: "dusk_to_dawn", hours: 6, stages: [{ afterDuskH: 0, pct: 100 }] } },
      { name: "override", override: { action: "off", pct: 40, minutes: 30 } },
    ];
    const en = { "accept-language": "en" };
    const said: string[] = [];
    for (const command of bad) {
      const res = await t.api("/api/v1/control/commands", {
        method: "POST",
        key: techA,
        headers: en,
        body: JSON.stringify({ deviceId: id(7), command }),
      });
      expect(res.status, JSON.stringify(command)).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("validation");
      said.push(body.error.message);
    }
    expect(said[0]).toContain("one start");
    expect(said[1]).toContain("1–16");
    expect(said[3]).toContain("no hours");
    expect(said[4]).toContain("only a dim carries a level");
    // a profile dark all night is a valid schedule (PROTOCOL.md §3a says so)
    const dark = { name: "profile", profile: { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct: 0 }] } };
    expect((await post("/api/v1/control/commands", { deviceId: id(7), command: dark }, techA)).status).toBe(201);
  });

  it("keeps an answer naming another light's command, an unknown one or the wrong command as a reject; accepts a reason starting with a digit", async () => {
    const lightId = id(8);
    const client = await goOnline(lightId, { obey: false });
    await client.subscribeAsync(topics.commandFilter("streetlight", lightId), { qos: 1 });
    const other = (await (
      await post("/api/v1/control/commands", { deviceId: id(9), command: { name: "override", override: { action: "on", minutes: 5 } } }, techA)
    ).json()) as { id: string };
    const own = (await (
      await post("/api/v1/control/commands", { deviceId: lightId, command: { name: "override", override: { action: "on", minutes: 5 } } }, techA)
    ).json()) as { id: string };
    await waitUntil(() => light(lightId).inbox.some((m) => m.body.includes(own.id)), "its override delivered");
    await publish(client, topics.ack(lightId), JSON.stringify({ id: other.id, cmd: "override", result: "applied" }));
    await publish(client, topics.ack(lightId), JSON.stringify({ id: own.id, cmd: "profile", result: "applied" }));
    await publish(client, topics.ack(lightId), JSON.stringify({ id: "Cnosuchcommand", cmd: "override", result: "applied" }));
    type Rejects = { counts: Record<string, number>; recent: { reason: string; detail: string | null }[] };
    const r = await waitUntil(async () => {
      const x = await get<Rejects>(`/api/v1/devices/${lightId}/rejects`);
      return Object.keys(x.counts).length === 3 ? x : false;
    }, "three rejects");
    expect(r.counts).toEqual({ ack_other_light: 1, ack_cmd_mismatch: 1, ack_unknown_command: 1 });
    expect(r.recent.map((x) => x.detail)).toEqual(expect.arrayContaining([expect.stringContaining(other.id)]));
    // none of them changed a command: another light's stays unanswered, its own too
    expect((await commands(id(9))).find((x) => x.id === other.id)?.state).toBe("created");
    expect((await commands(lightId)).find((x) => x.id === own.id)?.state).toBe("sent");
    const metrics = await (await t.api("/metrics")).text();
    expect(metrics).toMatch(/agrilume_messages_rejected_total\{family="streetlight",reason="ack_other_light"\} 1/);
    // a reason may start with a digit (devices/control.ts, PROTOCOL.md §3a)
    await publish(client, topics.ack(lightId), JSON.stringify({ id: own.id, cmd: "override", result: "rejected", reason: "1st_stage_bad" }));
    await waitUntil(async () => (await commands(lightId)).find((x) => x.id === own.id)?.reason === "1st_stage_bad", "the rejection recorded");
  });

  it("shows a campaign across two towns only to callers who reach every town (404 to a key of one of them)", async () => {
    const res = await post("/api/v1/control/campaigns", {
      name: "两镇",
      target: { deviceIds: [id(10), id(50)] },
      command: { name: "override", override: { action: "on", minutes: 5 } },
    });
    expect(res.status).toBe(201);
    const k = (await res.json()) as { id: string; town: string | null };
    expect(k.town).toBeNull();
    expect((await t.api(`/api/v1/control/campaigns/${k.id}`)).status).toBe(200);
    const other = (await t.app.apiKeys.create({ name: "op-b", role: "operator", towns: [OTHER] })).key;
    for (const key of [techA, other]) {
      expect((await t.api(`/api/v1/control/campaigns/${k.id}`, { key })).status).toBe(404);
      expect((await t.api("/api/v1/control/campaigns", { key }).then((r) => r.json())) as { campaigns: { id: string }[] }).not.toMatchObject({
        campaigns: [expect.objectContaining({ id: k.id })],
      });
    }
    expect((await post(`/api/v1/control/campaigns/${k.id}/pause`, {}, techA)).status).toBe(404);
  });
});
