import type { MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publish, startStation, startTestApp, type TestApp, tempDir, waitUntil } from "../harness/helpers.js";

const STATION = "qj-mem";

describe("finished orders and their formulas leave memory; the API still reads them", () => {
  let t: TestApp;
  let machine: MqttClient;
  const dir = tempDir();
  const post = async (path: string, body: unknown) => t.api(path, { method: "POST", body: JSON.stringify(body) });
  const json = async <T>(path: string) => (await (await t.api(path)).json()) as T;
  beforeAll(async () => {
    t = await startTestApp({}, dir.path);
    ({ machine } = await startStation(t, { station: STATION, machineId: "QJM-01", topics: ["blender/QJM-01/cmd/#"] }));
  });
  afterAll(async () => {
    machine.end(true);
    await t.stop();
    dir.remove();
  });

  it("finish 8 of 10 orders: the service holds 2 orders and their one formula; every order and formula is still read through the API", async () => {
    const formula = async (name: string, grade: string) => ((await (await post("/api/v1/formulas", { name, grade })).json()) as { id: string }).id;
    const rice = await formula("水稻配方肥", "15-15-15");
    const maize = await formula("玉米配方肥", "20-10-10");
    const order = async (formulaId: string, customer: string) =>
      (
        (await (
          await post("/api/v1/orders", { station: STATION, customer, crop: "rice", formulaId, targetT: 10, dueDate: "2099-12-31" })
        ).json()) as {
          id: string;
        }
      ).id;
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await order(i < 8 ? maize : rice, `合作社 ${i}`));
    expect(t.app.blending.held()).toEqual({ orders: 10, formulas: 2 });

    // the first order runs a batch, and goes on getting batch events after it is finished (a late machine)
    const first = ids[0] ?? "";
    expect((await post(`/api/v1/orders/${first}/start`, { machineId: "QJM-01" })).status).toBe(200);
    for (const id of ids.slice(0, 8))
      expect(((await (await post(`/api/v1/orders/${id}/finish`, {})).json()) as { state: string }).state).toBe("finished");
    expect(t.app.blending.held()).toEqual({ orders: 2, formulas: 1 });
    expect(t.app.blending.openOrders().map((o) => o.id)).toEqual(ids.slice(8));

    // still read, listed, refused, and judged against its own tolerances and formula
    expect(await json(`/api/v1/orders/${first}`)).toMatchObject({ id: first, state: "finished", formula: { id: maize }, producedT: 0 });
    expect((await json<{ orders: { id: string }[] }>(`/api/v1/orders?state=finished`)).orders.map((o) => o.id)).toEqual(ids.slice(0, 8));
    expect((await json<{ orders: { id: string }[] }>("/api/v1/orders")).orders.map((o) => o.id)).toEqual(ids);
    expect((await json<{ orders: { id: string }[] }>("/api/v1/orders?state=planned")).orders.map((o) => o.id)).toEqual(ids.slice(8));
    expect((await post(`/api/v1/orders/${first}/start`, { machineId: "QJM-01" })).status).toBe(409);
    expect((await post(`/api/v1/orders/${first}/pause`, {})).status).toBe(409);
    expect((await json<{ formulas: { id: string }[] }>("/api/v1/formulas")).formulas.map((f) => f.id).sort()).toEqual([rice, maize].sort());
    expect(await json(`/api/v1/formulas/${maize}`)).toMatchObject({ id: maize, name: "玉米配方肥", version: 1 });
    expect(((await (await post("/api/v1/formulas", { name: "玉米配方肥", grade: "18-10-12" })).json()) as { version: number }).version).toBe(2);

    const ts = Date.now() - 600_000;
    await publish(machine, "blender/QJM-01/batch", JSON.stringify({ ts, event: "started", batchId: "LATE-1", orderId: first }));
    await publish(
      machine,
      "blender/QJM-01/batch",
      JSON.stringify({
        ts: ts + 120_000,
        event: "completed",
        batchId: "LATE-1",
        orderId: first,
        actualKg: { urea: 390, map: 190, kcl: 170, filler: 250 },
        bags: 20,
      }),
    );
    await t.app.writer.waitFor(t.app.wal.lastSeq());
    const batches = await waitUntil(async () => {
      const b = await json<{ batches: { batchId: string; inTolerance: boolean | null; deviation: Record<string, unknown> | null }[] }>(
        `/api/v1/orders/${first}/batches`,
      );
      return b.batches.length === 1 && b.batches;
    }, "the late batch recorded");
    // no target in the message: it came from the finished order's formula (20-10-10), read back from the store
    expect(batches[0]).toMatchObject({ batchId: "LATE-1", inTolerance: expect.any(Boolean) });
    expect(Object.keys(batches[0]?.deviation ?? {}).sort()).toEqual(["filler", "kcl", "map", "urea"]);
    expect(await json(`/api/v1/orders/${first}`)).toMatchObject({ state: "finished", batches: 1, producedT: 1 });
    expect(t.app.blending.held()).toEqual({ orders: 2, formulas: 1 });

    // a restart loads the open ones only
    machine.end(true);
    await t.stop();
    t = await startTestApp({}, dir.path);
    expect(t.app.blending.held()).toEqual({ orders: 2, formulas: 1 });
    expect(await json(`/api/v1/orders/${ids[3]}`)).toMatchObject({ state: "finished", formula: { id: maize } });
  });
});
