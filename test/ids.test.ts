import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../harness/helpers.js";
import { alertStore } from "../src/alerts/store.js";
import { openStateStore } from "../src/state.js";
import { tempDirPerTest } from "./dirs.js";

describe("ids with control characters (issue 16, V13)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());
  const fresh = tempDirPerTest();

  it("GET /channels/%00/deliveries is refused as a bad id (400), not a failed query (500)", async () => {
    for (const id of ["%00", "a%00b", "x%0Ay", "%7F"]) {
      const res = await t.api(`/api/v1/channels/${id}/deliveries`, { headers: { "accept-language": "en" } });
      expect(res.status, id).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("validation");
      expect(body.error.message).toContain("control characters");
    }
    for (const path of ["/api/v1/alerts/%00", "/api/v1/channels/%00"])
      expect((await t.api(path, { method: path.includes("channels") ? "DELETE" : "GET" })).status, path).toBe(400);
    // keys and accounts too
    for (const [method, path] of [
      ["DELETE", "/api/v1/keys/%00"],
      ["DELETE", "/api/v1/users/%0A"],
      ["PATCH", "/api/v1/users/%00"],
      ["POST", "/api/v1/users/%00/password"],
    ] as const)
      expect((await t.api(path, { method, ...(method === "PATCH" ? { body: "{}" } : {}) })).status, `${method} ${path}`).toBe(400);
    // an id without them still reaches the store: an unknown channel has no deliveries
    const ok = await t.api("/api/v1/channels/no-such-channel/deliveries");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ deliveries: [] });
  });

  it("the store passes an id as a parameter: a NUL or a quote in it is data, not SQL", async () => {
    const state = await openStateStore(fresh());
    try {
      const store = alertStore(state.db);
      for (const id of ["a\0b", "\0", "x' OR '1'='1", "x\\'y"]) {
        await store.putDelivery(`d-${id}`, id, { createdAt: 1 });
        expect(await store.deliveries(id, 10), JSON.stringify(id)).toEqual([{ createdAt: 1 }]);
      }
      expect(await store.deliveries("a", 10)).toEqual([]);
    } finally {
      await state.close();
    }
  });
});
