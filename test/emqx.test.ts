import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, registerLight, startTestApp, type TestApp } from "../harness/helpers.js";

/**
 * Agrilume as EMQX 5's HTTP authenticator and authorizer, and EMQX's REST API told to drop disabled and rotated
 * devices. There is no EMQX on this machine: a stand-in sends the requests EMQX sends, built from the body templates
 * and headers of the shipped docs/brokers/emqx.conf (so the file a site copies is the one tested), and a small HTTP
 * server stands in for EMQX's REST API, recording what Agrilume asks of it.
 */
const SECRET = "emqx-shared-secret-0123456789abcdef";
const SERVICE = { username: "agrilume-ingest", password: "service-password-0123456789" };
const API = { key: "agrilume-key", secret: "api-secret-0123456789" };
const conf = readFileSync(new URL("../docs/brokers/emqx.conf", import.meta.url), "utf8");

/** One `body { … }` template of the shipped config, as EMQX fills it in: `${name}` → the client's value. */
function templates() {
  const bodies = [...conf.matchAll(/body \{\n([\s\S]*?)\n\s*\}/g)].map((m) =>
    Object.fromEntries([...(m[1] ?? "").matchAll(/^\s*(\w+) = "\$\{(\w+)\}"$/gm)].map((f) => [f[1] as string, f[2] as string])),
  );
  const urls = [...conf.matchAll(/url = "http:\/\/agrilume\.example:8080([^"]+)"/g)].map((m) => m[1] as string);
  return { authn: { path: urls[0] as string, body: bodies[0] ?? {} }, authz: { path: urls[1] as string, body: bodies[1] ?? {} } };
}

type Call = { method: string; path: string; headers: Record<string, string | string[] | undefined> };
/** EMQX's REST API, as far as Agrilume uses it: DELETE /api/v5/clients/{clientid} → 204 (404 when not connected). */
async function startEmqxApi() {
  const received: Call[] = [];
  const server = createServer((req, res) => {
    received.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    req.resume();
    const ok = req.method === "DELETE" && /^\/api\/v5\/clients\/[^/]+$/.test(req.url ?? "");
    res.writeHead(ok ? 204 : 404, ok ? {} : { "content-type": "application/json" }).end(ok ? undefined : '{"code":"CLIENTID_NOT_FOUND"}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("Agrilume as EMQX's HTTP authenticator and authorizer", () => {
  let t: TestApp;
  let rest: Awaited<ReturnType<typeof startEmqxApi>>;
  const tpl = templates();
  /** What EMQX sends: POST, JSON, the shared secret header, the body template filled in. */
  const emqx = async (
    which: "authn" | "authz",
    client: Record<string, string>,
    headers: Record<string, string> = { "x-agrilume-broker-secret": SECRET },
  ) => {
    const { path, body } = tpl[which];
    const filled = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, client[v] ?? ""]));
    const res = await t.api(path, {
      method: "POST",
      key: null,
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(filled),
    });
    return {
      status: res.status,
      type: res.headers.get("content-type") ?? "",
      body: (await res.json()) as { result?: string; error?: { code: string } },
    };
  };
  const connects = (clientid: string, username: string, password: string) =>
    emqx("authn", { clientid, username, password, peerhost: "10.8.0.17" }).then((r) => r.body.result);
  const may = (username: string, action: string, topic: string, clientid = username) =>
    emqx("authz", { clientid, username, action, topic }).then((r) => r.body.result);

  beforeAll(async () => {
    rest = await startEmqxApi();
    t = await startTestApp({
      AGRILUME_EMQX_AUTH_SECRET: SECRET,
      AGRILUME_MQTT_USERNAME: SERVICE.username,
      AGRILUME_MQTT_PASSWORD: SERVICE.password,
      AGRILUME_EMQX_API_URL: rest.url,
      AGRILUME_EMQX_API_KEY: API.key,
      AGRILUME_EMQX_API_SECRET: API.secret,
    });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await rest?.close();
  });

  it("reads the shipped config's templates (the stand-in sends what a site's EMQX would)", () => {
    expect(tpl.authn).toEqual({
      path: "/api/v1/broker/emqx/authn",
      body: { clientid: "clientid", username: "username", password: "password", peerhost: "peerhost" },
    });
    expect(tpl.authz).toEqual({
      path: "/api/v1/broker/emqx/authz",
      body: { clientid: "clientid", username: "username", action: "action", topic: "topic" },
    });
  });

  it("lets a device in with client id = username = its id and its secret, and nobody else", async () => {
    const a = await registerLight(t, "EM-A-1");
    const b = await registerLight(t, "EM-B-1");
    const r = await emqx("authn", { clientid: a.id, username: a.id, password: a.secret, peerhost: "10.8.0.17" });
    expect(r).toMatchObject({ status: 200, body: { result: "allow", is_superuser: false } });
    expect(r.type).toMatch(/^application\/json/);
    expect(await connects(a.id, a.id, b.secret)).toBe("deny");
    // B's credentials asking for A's client id: refused, so A's session cannot be taken over
    expect(await connects(a.id, b.id, b.secret)).toBe("deny");
    expect(await connects("EM-NOBODY", "EM-NOBODY", a.secret)).toBe("deny");
    expect(await connects("", "", "")).toBe("deny");
    // the service's own account, with any client id (instances sharing the load)
    expect(await connects("agrilume-2", SERVICE.username, SERVICE.password)).toBe("allow");
    expect(await connects("agrilume-2", SERVICE.username, `${SERVICE.password}x`)).toBe("deny");
  });

  it("refuses a disabled device and has EMQX disconnect it; enabling lets it in without a disconnect", async () => {
    const d = await registerLight(t, "EM-DIS-1");
    expect(await connects(d.id, d.id, d.secret)).toBe("allow");
    const before = rest.received.length;
    expect((await t.api(`/api/v1/devices/${d.id}/disable`, { method: "POST" })).status).toBe(200);
    expect(await connects(d.id, d.id, d.secret)).toBe("deny");
    expect(await may(d.id, "publish", `streetlight/${d.id}/telemetry`)).toBe("deny");
    await waitFor(() => rest.received.length > before);
    const call = rest.received[rest.received.length - 1];
    expect(call?.path).toBe(`/api/v5/clients/${d.id}`);
    expect(call?.method).toBe("DELETE");
    expect(call?.headers.authorization).toBe(`Basic ${Buffer.from(`${API.key}:${API.secret}`).toString("base64")}`);
    const afterDisable = rest.received.length;
    expect((await t.api(`/api/v1/devices/${d.id}/enable`, { method: "POST" })).status).toBe(200);
    expect(await connects(d.id, d.id, d.secret)).toBe("allow");
    await new Promise((r) => setTimeout(r, 200));
    expect(rest.received.length).toBe(afterDisable);
  });

  it("takes a rotated secret, refuses the old one, and has EMQX disconnect the device", async () => {
    const d = await registerLight(t, "EM-ROT-1");
    expect(await connects(d.id, d.id, d.secret)).toBe("allow");
    const before = rest.received.length;
    const res = await t.api(`/api/v1/devices/${d.id}/secret`, { method: "POST" });
    const { secret } = (await res.json()) as { secret: string };
    expect(await connects(d.id, d.id, d.secret)).toBe("deny");
    expect(await connects(d.id, d.id, secret)).toBe("allow");
    await waitFor(() => rest.received.slice(before).some((c) => c.path === `/api/v5/clients/${d.id}` && c.method === "DELETE"));
  });

  it("lets a device publish only its own readings and read only its own commands", async () => {
    const d = await registerLight(t, "EM-ACL-1");
    const cases: [string, string, "allow" | "deny"][] = [
      ["publish", "streetlight/EM-ACL-1/telemetry", "allow"],
      ["publish", "streetlight/EM-ACL-1/status", "allow"],
      ["publish", "streetlight/EM-ACL-1/ack", "allow"], // v1.1: its answers to commands
      ["publish", "streetlight/EM-A-1/ack", "deny"], // another light's answers
      ["publish", "blender/EM-ACL-1/ack", "deny"],
      ["publish", "streetlight/EM-ACL-1/batch", "deny"], // a blender's topic
      ["publish", "blender/EM-ACL-1/telemetry", "deny"],
      ["publish", "streetlight/EM-A-1/telemetry", "deny"], // another device
      ["publish", "streetlight/EM-ACL-1/cmd/dim", "deny"], // its own commands come from the service
      ["publish", "alerts/来苏镇/dark", "deny"],
      ["publish", "stations/S1/orders/o1/progress", "deny"],
      ["subscribe", "streetlight/EM-ACL-1/cmd/#", "allow"],
      ["subscribe", "streetlight/EM-ACL-1/cmd/dim", "allow"],
      ["subscribe", "streetlight/EM-A-1/cmd/#", "deny"],
      ["subscribe", "streetlight/+/cmd/#", "deny"],
      ["subscribe", "#", "deny"],
      ["subscribe", "streetlight/EM-ACL-1/telemetry", "deny"],
    ];
    for (const [action, topic, expected] of cases) expect(await may(d.id, action, topic), `${action} ${topic}`).toBe(expected);
    // a client id that is not the username (a session from before the authenticator): denied everything
    expect(await may(d.id, "publish", "streetlight/EM-ACL-1/telemetry", "EM-OTHER")).toBe("deny");
  });

  it("lets the service read every uplink and publish commands, alerts and station topics, and nothing else", async () => {
    const cases: [string, string, "allow" | "deny"][] = [
      ["subscribe", "$share/agrilume/streetlight/+/telemetry", "allow"],
      ["subscribe", "streetlight/+/status", "allow"],
      ["subscribe", "$share/agrilume/streetlight/+/ack", "allow"],
      ["subscribe", "blender/+/batch", "allow"],
      ["subscribe", "$SYS/broker/publish/messages/dropped", "allow"],
      ["publish", "streetlight/EM-A-1/cmd/dim", "allow"],
      ["publish", "blender/M1/cmd/recipe", "allow"],
      ["publish", "alerts/来苏镇/dark", "allow"],
      ["publish", "stations/S1/orders/o1/progress", "allow"],
      ["publish", "streetlight/EM-A-1/telemetry", "deny"], // never as a device
      ["publish", "alerts/#", "deny"],
      ["subscribe", "#", "deny"],
      ["subscribe", "stations/#", "deny"],
    ];
    for (const [action, topic, expected] of cases)
      expect(await may(SERVICE.username, action, topic, "agrilume-1"), `${action} ${topic}`).toBe(expected);
  });

  it("answers nobody without the shared secret, whatever else they bring", async () => {
    const d = await registerLight(t, "EM-NEG-1");
    const client = { clientid: d.id, username: d.id, password: d.secret, peerhost: "10.8.0.17" };
    for (const headers of [{}, { "x-agrilume-broker-secret": "wrong-secret-0123456789abcdef" }, { authorization: `Bearer ${ADMIN_KEY}` }]) {
      for (const which of ["authn", "authz"] as const) {
        const r = await emqx(which, { ...client, action: "publish", topic: `streetlight/${d.id}/telemetry` }, headers);
        expect(r.status, JSON.stringify(headers)).toBe(401);
        expect(r.body.error?.code).toBe("unauthorized");
        expect(r.body.result).toBeUndefined();
      }
    }
    // a malformed request: a clear 400, never an allow
    const bad = await t.api(tpl.authn.path, {
      method: "POST",
      key: null,
      headers: { "x-agrilume-broker-secret": SECRET, "content-type": "application/json" },
      body: JSON.stringify({ clientid: d.id }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("validation");
  });
});

describe("EMQX endpoints when the setting is unset", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  }, 60_000);
  afterAll(async () => t?.stop());
  it("answer 404, with or without a secret", async () => {
    for (const path of ["/api/v1/broker/emqx/authn", "/api/v1/broker/emqx/authz"]) {
      const res = await t.api(path, {
        method: "POST",
        key: null,
        headers: { "x-agrilume-broker-secret": SECRET, "content-type": "application/json" },
        body: JSON.stringify({ clientid: "a", username: "a", password: "b", action: "publish", topic: "x" }),
      });
      expect(res.status).toBe(404);
    }
  });
});

async function waitFor(fn: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
