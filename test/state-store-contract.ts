import { existsSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Alert } from "../src/alerts/engine.js";
import { alertStore, isOpenAlertConflict } from "../src/alerts/store.js";
import { blendingStore, type Order } from "../src/blending/store.js";
import { type Applied, type Campaign, controlStore, type LightCommand } from "../src/control/store.js";
import type { PhotoMeta, WorkOrder } from "../src/fieldwork/service.js";
import { fieldworkStore } from "../src/fieldwork/store.js";
import { type Visit, visitStore } from "../src/fieldwork/visits.js";
import type { DeviceRecord } from "../src/registry/store.js";
import { openStateStore, STATE_MIGRATIONS, type StateStore } from "../src/state.js";
import { jobClaims } from "../src/storage/claims.js";
import { readBigText } from "../src/storage/sql.js";
import type { NightRecord } from "../src/streetlights/nightly.js";
import { lightWindows, nightStore } from "../src/streetlights/store.js";
import { verificationStore } from "../src/verification/store.js";

/**
 * The contract every state store passes (the embedded DuckDB and PostgreSQL): each feature's own queries, run through
 * the portable `Db` (src/storage/sql.ts), give the same answers on either. `open` opens the store (a fresh one the
 * first time; the same one again after a close, to show what survives).
 */
export function stateStoreContract(
  name: string,
  dialect: "duckdb" | "postgres",
  factory: () => Promise<{ open: () => Promise<StateStore>; cleanup: () => Promise<void> | void }>,
) {
  describe(`state store contract: ${name}`, () => {
    let state: StateStore;
    let fx: Awaited<ReturnType<typeof factory>>;
    beforeEach(async () => {
      fx = await factory();
      state = await fx.open();
    });
    afterEach(async () => {
      await state.close();
      await fx.cleanup();
    });
    const T = Date.UTC(2026, 10, 1, 4, 0, 0);

    it("records every migration version once, and opens again without applying any twice", async () => {
      expect(state.db.dialect).toBe(dialect);
      const versions = [...new Set(STATE_MIGRATIONS.map((m) => m.version)), 1].sort((a, b) => a - b);
      const rows = await state.db.all<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
      expect(rows.map((r) => Number(r.version))).toEqual([...new Set(versions)]);
      await state.setMeta("k", "v1");
      await state.close();
      state = await fx.open();
      expect((await state.db.all("SELECT version FROM schema_migrations")).length).toBe(rows.length);
      expect(await state.getMeta("k")).toBe("v1");
      await state.setMeta("k", "v2");
      expect(await state.getMeta("k")).toBe("v2");
      expect(await state.getMeta("absent")).toBeUndefined();
    });

    it("rolls a failed transaction back whole, and reads 64-bit integers as bigint", async () => {
      await expect(
        state.db.tx(async (t) => {
          await t.run("INSERT INTO meta (key, value) VALUES (?, ?)", ["tx", "1"]);
          await t.run("INSERT INTO meta (key, value) VALUES (?, ?)", ["tx", "2"]); // the same key: refused
        }),
      ).rejects.toThrow();
      expect(await state.getMeta("tx")).toBeUndefined();
      const [n] = await state.db.all<{ n: bigint }>("SELECT count(*) AS n FROM meta WHERE key = ?", ["tx"]);
      expect(n?.n).toBe(0n);
      // a '?' inside a string literal is text, not a placeholder
      const [q] = await state.db.all<{ s: string; v: string }>("SELECT 'why?' AS s, CAST(? AS VARCHAR) AS v", ["x"]);
      expect(q).toEqual({ s: "why?", v: "x" });
    });

    it("devices: inserts all or none, updates in place, streams every device back (more than one chunk)", async () => {
      const dev = (id: string, extra: Partial<DeviceRecord> = {}): DeviceRecord => ({
        id,
        family: "streetlight",
        name: null,
        town: "来苏镇",
        village: "梳妆台村",
        station: null,
        lat: 29.3512,
        lon: 105.9113,
        attrs: { lampW: 30 },
        secretHash: "h",
        brokerHash: null,
        disabled: false,
        createdAt: T,
        updatedAt: T,
        ...extra,
      });
      const many = Array.from({ length: 2100 }, (_, i) => dev(`L-${String(i).padStart(5, "0")}`));
      await state.devices.insertDevices(many);
      await expect(state.devices.insertDevices([dev("NEW-1"), dev("L-00001")])).rejects.toThrow();
      await state.devices.updateDevice({ ...dev("L-00002"), name: "村口", disabled: true, attrs: { lampW: 40 }, updatedAt: T + 1000 });
      const all = await state.devices.allDevices();
      expect(all).toHaveLength(2100);
      expect(all.find((d) => d.id === "NEW-1")).toBeUndefined();
      expect(all.find((d) => d.id === "L-00002")).toEqual({
        ...dev("L-00002"),
        name: "村口",
        disabled: true,
        attrs: { lampW: 40 },
        updatedAt: T + 1000,
      });
      await state.devices.setBrokerHashes([{ id: "L-00003", brokerHash: "$7$101$salt$hash" }]);
      expect((await state.devices.devicesById(["L-00003"]))[0]?.brokerHash).toBe("$7$101$salt$hash");
      // many at once (more than one statement), each to its own device, the others untouched
      const learnt = Array.from({ length: 1001 }, (_, i) => ({ id: `L-${String(i).padStart(5, "0")}`, brokerHash: `$7$101$s${i}$h${i}` }));
      const before = await state.devices.allDevices();
      const held = new Set(before.map((d) => d.id));
      await state.devices.setBrokerHashes(learnt.filter((h) => held.has(h.id) && h.id !== "L-00001"));
      for (const d of await state.devices.allDevices()) {
        const i = Number(d.id.slice(2));
        const was = before.find((b) => b.id === d.id);
        expect(d.brokerHash).toBe(i <= 1000 && d.id !== "L-00001" ? `$7$101$s${i}$h${i}` : was?.brokerHash);
      }
    });

    it("API keys and users: insert, revoke, update, delete; sessions; the audit log filtered", async () => {
      await state.keys.insertApiKey({
        id: "k1",
        name: "镇上",
        role: "operator",
        keyHash: "hash1",
        towns: ["来苏镇"],
        stations: null,
        createdAt: T,
        revokedAt: null,
      });
      await state.keys.revokeApiKey("k1", T + 5000);
      expect(await state.keys.allApiKeys()).toEqual([
        { id: "k1", name: "镇上", role: "operator", keyHash: "hash1", towns: ["来苏镇"], stations: null, createdAt: T, revokedAt: T + 5000 },
      ]);
      expect(await state.users.anyUserEver()).toBe(false);
      const user = {
        id: "u1",
        name: "admin",
        role: "admin" as const,
        towns: null,
        stations: ["QJ"],
        passwordHash: "p",
        mustChangePassword: true,
        disabled: false,
        createdAt: T,
        passwordChangedAt: T,
      };
      await state.users.insertUser(user);
      await state.users.updateUser({ ...user, mustChangePassword: false, passwordChangedAt: T + 1 });
      expect(await state.users.allUsers()).toEqual([{ ...user, mustChangePassword: false, passwordChangedAt: T + 1 }]);
      await state.users.deleteUser("u1", T + 2);
      expect(await state.users.allUsers()).toEqual([]);
      expect(await state.users.anyUserEver()).toBe(true);

      const session = { id: "s1", tokenHash: "t", userId: "u1", csrfToken: "c", createdAt: T, lastSeenAt: T, expiresAt: T + 60_000, ip: "127.0.0.1" };
      await state.users.insertSession(session);
      await state.users.touchSession("s1", T + 10);
      expect(await state.users.liveSessions(T + 20)).toEqual([{ ...session, lastSeenAt: T + 10 }]);
      expect(await state.users.liveSessions(T + 60_000)).toEqual([]);
      await state.users.endSessions(["s1"], T + 30);
      expect(await state.users.liveSessions(T + 40)).toEqual([]);

      const entry = (route: string, at: number) => ({
        at,
        actorKind: "user" as const,
        actorId: "u1",
        actorName: "admin",
        method: "POST",
        route,
        objectId: null,
        status: 201,
        ip: null,
      });
      await state.users.insertAudit(entry("/api/v1/devices", T));
      await state.users.insertAudit(entry("/api/v1/keys", T + 1));
      await state.users.insertAudit(entry("/api/v1/devices/:id", T + 2));
      const audit = await state.users.audit({ limit: 10, route: "/api/v1/devices" });
      expect(audit.map((a) => [a.route, a.at])).toEqual([
        ["/api/v1/devices/:id", T + 2],
        ["/api/v1/devices", T],
      ]);
      expect((await state.users.audit({ limit: 10, before: audit[0]?.id, from: T + 1 })).map((a) => a.route)).toEqual(["/api/v1/keys"]);
    });

    it("rejects: recorded once with their counts and checkpoint, pruned to the newest per device", async () => {
      const reject = (seq: number, deviceId: string | null) => ({
        seq,
        deviceId,
        clientId: deviceId,
        topic: "streetlight/x/telemetry",
        reason: "invalid_payload",
        detail: { code: "invalid_json", params: {} },
        payload: "{",
        payloadEncoding: "utf8" as const,
        payloadBytes: 1,
        receivedAt: T + seq,
      });
      const batch = Array.from({ length: 120 }, (_, i) => reject(i + 1, "L1"));
      await state.rejects.writeRejects(batch, 120);
      await state.rejects.writeRejects([reject(121, null)], 121);
      expect(await state.rejects.rejectCheckpoint()).toBe(121);
      await state.rejects.pruneRejects();
      const l1 = await state.rejects.rejectsFor("L1", 500);
      expect(l1.counts).toEqual({ invalid_payload: 120 });
      expect(l1.recent).toHaveLength(100);
      expect(l1.recent[0]).toMatchObject({ seq: 120, deviceId: "L1", receivedAt: T + 120, detail: { code: "invalid_json" } });
      expect((await state.rejects.rejectsFor(null, 10)).recent.map((r) => r.seq)).toEqual([121]);
    });

    it("presence history: events in, devices seen, a device's events newest first", async () => {
      await state.presence.insertPresenceEvents([
        { deviceId: "L1", online: true, cause: "connect", at: T },
        { deviceId: "L1", online: false, cause: "timeout", at: T + 1000, lastSeen: T + 900 },
        { deviceId: "L2", online: false, cause: "timeout", at: T },
      ]);
      expect(await state.presence.devicesSeen()).toEqual(new Set(["L1"]));
      expect(await state.presence.presenceEvents("L1", 1)).toEqual([{ deviceId: "L1", online: false, cause: "timeout", at: T + 1000 }]);
      await state.presence.insertPresenceEvents([{ deviceId: "L2", online: true, cause: "connected", at: T + 5 }]);
      // each device's newest event: what a start restores, an offline one with when the device last spoke
      const latest = (await state.presence.latestPresence()).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
      expect(latest).toEqual([
        { deviceId: "L1", online: false, cause: "timeout", at: T + 1000, lastSeen: T + 900 },
        { deviceId: "L2", online: true, cause: "connected", at: T + 5, lastSeen: null },
      ]);
    });

    it("blending: stations, materials, formulas by version, open and finished orders in order, batches with their checkpoint", async () => {
      const b = blendingStore(state.db);
      const hours = { days: [1, 2, 3, 4, 5], from: "08:00", to: "18:00" };
      await b.putStation({ id: "QJ", name: "綦江", hours: hours as never, createdAt: T });
      await b.putStation({ id: "QJ", name: "綦江智能配肥站", hours: hours as never, createdAt: T });
      expect(await b.stations()).toEqual([{ id: "QJ", name: "綦江智能配肥站", hours, createdAt: T }]);
      await b.putMaterial("QJ", { code: "urea", n: 46 } as never);
      await b.putMaterial("QJ", { code: "urea", n: 46.2 } as never);
      expect(await b.materials()).toEqual([{ code: "urea", n: 46.2, station: "QJ" }]);
      const formula = {
        id: "f1",
        name: "玉米",
        version: 1,
        station: null,
        grade: "15-15-15",
        kgPerTonne: {},
        trace: {},
        materials: [],
        createdAt: T,
      };
      await b.insertFormula(formula);
      await b.insertFormula({ ...formula, id: "f2", version: 2 });
      await expect(b.insertFormula({ ...formula, id: "f3", version: 2 })).rejects.toThrow();
      expect(await b.formulaVersion("玉米")).toBe(2);
      expect(await b.formulaVersion("none")).toBe(0);
      expect((await b.formula("f2"))?.version).toBe(2);
      const order = (id: string, createdAt: number, state: Order["state"]): Order =>
        ({ id, station: "QJ", state, createdAt, updatedAt: createdAt }) as unknown as Order;
      await b.putOrder(order("o-b", T + 2000, "planned"));
      await b.putOrder(order("o-a", T + 10_000, "running"));
      await b.putOrder(order("o-c", T + 100, "finished"));
      await b.putOrder(order("o-b", T + 2000, "paused"));
      expect((await b.orders("open")).map((o) => [o.id, o.state])).toEqual([
        ["o-b", "paused"],
        ["o-a", "running"],
      ]);
      expect((await b.orders("finished")).map((o) => o.id)).toEqual(["o-c"]);
      const batch = (batchId: string, startedAt: number) => ({
        machineId: "M1",
        batchId,
        orderId: "o-a",
        state: "complete" as const,
        startedAt,
        endedAt: startedAt + 1,
        targetKg: null,
        actualKg: null,
        bags: 1,
        heldCount: 0,
        events: [],
        evaluation: null,
      });
      await b.writeBatches([batch("b2", T + 50), batch("b1", T)], 7);
      await b.writeBatches([{ ...batch("b1", T), bags: 2 }], 9);
      expect((await b.batchesOf("o-a")).map((x) => [x.batchId, x.bags])).toEqual([
        ["b1", 2],
        ["b2", 1],
      ]);
      expect(await b.checkpoint()).toBe(9);
    });

    it("nightly records: upserted, read by night and device, summed over a window with the last fix", async () => {
      const nights = nightStore(state.db);
      const rec = (deviceId: string, date: string, classification: NightRecord["classification"], extra: Partial<NightRecord> = {}): NightRecord => ({
        deviceId,
        date,
        dusk: `${date}T19:00:00+08:00`,
        dawn: `${date}T06:30:00+08:00`,
        expectedMin: 690,
        litMin: 690,
        coveredMin: 690,
        loadWh: 300,
        pvWhDayBefore: 400,
        switchOns: 1,
        classification,
        flags: [],
        lastTs: `${date}T22:00:00.000Z`,
        gps: { lat: 29.35, lon: 105.91, accM: 3 },
        ...extra,
      });
      await nights.write([
        rec("L1", "2026-10-01", "lit"),
        rec("L1", "2026-10-02", "dark", { pvWhDayBefore: 5, gps: { lat: 29.36, lon: 105.92, accM: 3 } }),
        rec("L1", "2026-10-03", "cycling", { litMin: 600, coveredMin: 690, gps: null, lastTs: "2026-10-03T23:00:00.000Z" }),
        rec("L2", "2026-10-01", "cycling", { litMin: 300 }),
      ]);
      await nights.write([rec("L2", "2026-10-02", "lit"), rec("L2", "2026-10-01", "cycling", { litMin: 100 })]);
      expect((await nights.on("2026-10-01", ["L1", "L2", "L3"])).map((r) => [r.deviceId, r.litMin]).sort()).toEqual([
        ["L1", 690],
        ["L2", 100],
      ]);
      expect(await nights.recordedOn("2026-10-02")).toEqual(new Set(["L1", "L2"]));
      expect((await nights.of("L1", "2026-10-02", "2026-10-03")).map((r) => r.classification)).toEqual(["dark", "cycling"]);
      expect(await nights.latestDate()).toBe("2026-10-03");
      expect(await nights.classesOn("2026-10-01")).toEqual(
        new Map([
          ["L1", "lit"],
          ["L2", "cycling"],
        ]),
      );
      expect(await nights.unlitOn("2026-10-01")).toEqual(new Map([["L2", "cycling"]]));
      expect(await nights.unlitOn("2026-10-02")).toEqual(new Map([["L1", "dark"]]));
      const summary = (await nights.summary("2026-10-01", "2026-10-03", 20)).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
      expect(summary).toEqual([
        // lit, dark, and cycling but lit for 600 of 690 minutes (≥ 80 %); the last fix is the dark night's (the last night had none)
        { deviceId: "L1", litNights: 2, pvDays: 2, lastTs: Date.parse("2026-10-03T23:00:00.000Z"), lat: 29.36, lon: 105.92 },
        { deviceId: "L2", litNights: 1, pvDays: 2, lastTs: Date.parse("2026-10-02T22:00:00.000Z"), lat: 29.35, lon: 105.91 },
      ]);
      // the same as the one text a worker thread is handed (and reads with lightWindows); an empty window is an empty list
      const text = await nights.summaryText("2026-10-01", "2026-10-03", 20);
      expect(lightWindows(readBigText(text)).sort((a, b) => a.deviceId.localeCompare(b.deviceId))).toEqual(summary);
      expect(readBigText(await nights.summaryText("2020-01-01", "2020-01-02", 20))).toBe("[]");
      // the energy report's sums per light (src/control/energy.ts)
      expect((await nights.energy("2026-10-02", "2026-10-03")).sort((a, b) => a.deviceId.localeCompare(b.deviceId))).toEqual([
        { deviceId: "L1", nights: 2, expectedMin: 1380, litMin: 1290, coveredMin: 1380, loadWh: 600, pvWh: 405, flatNights: 0 },
        { deviceId: "L2", nights: 1, expectedMin: 690, litMin: 690, coveredMin: 690, loadWh: 300, pvWh: 400, flatNights: 0 },
      ]);
    });

    it("verification: an import counts new, changed and unchanged claims, and a second one changes nothing; reports logged", async () => {
      const v = verificationStore(state.db);
      const project = { id: "P1", town: "来苏镇", village: "梳妆台村", road: "", year: 2025, approvedLights: 2, subsidyYuan: 2700 };
      const claim = (deviceId: string, serial: string) => JSON.stringify({ deviceId, projectId: "P1", controllerSerial: serial });
      const parts = [`${claim("L1", "s1")}\n${claim("L2", "s2")}`, claim("L3", "s3")];
      expect(await v.upsert([project as never], parts)).toEqual({ created: 3, updated: 0, unchanged: 0, projectsCreated: 1, projectsUpdated: 0 });
      expect(await v.upsert([project as never], parts)).toEqual({ created: 0, updated: 0, unchanged: 3, projectsCreated: 0, projectsUpdated: 0 });
      expect(await v.upsert([project as never], [`${claim("L1", "s1")}\n${claim("L2", "CHANGED")}\n${claim("L4", "s4")}`])).toEqual({
        created: 1,
        updated: 1,
        unchanged: 1,
        projectsCreated: 0,
        projectsUpdated: 0,
      });
      // what a file would overwrite is told before anything changes, and a refusal changes nothing
      const told: string[][] = [];
      const other = { ...project, id: "P2", town: "三教镇" };
      const refuse = (towns: string[]) => {
        told.push(towns);
        throw new Error("refused");
      };
      await expect(v.upsert([other as never], [JSON.stringify({ deviceId: "L1", projectId: "P2", controllerSerial: "x" })], refuse)).rejects.toThrow(
        "refused",
      );
      expect(told).toEqual([["来苏镇"]]); // L1 is held by P1, in 来苏镇; P2 is new
      await expect(v.upsert([{ ...project, town: "三教镇" } as never], [], refuse)).rejects.toThrow("refused");
      expect(told[1]).toEqual(["来苏镇"]); // P1 itself
      expect((await v.claims()).map((c) => [c.deviceId, (c as unknown as { controllerSerial: string }).controllerSerial])).toEqual([
        ["L1", "s1"],
        ["L2", "CHANGED"],
        ["L3", "s3"],
        ["L4", "s4"],
      ]);
      // the claims as one text for a worker thread: the embedded store writes it to a file (the service's thread never
      // holds it), read once and removed; PostgreSQL answers the text
      const claimsText = await v.claimsText();
      expect("file" in claimsText).toBe(dialect === "duckdb");
      expect((JSON.parse(readBigText(claimsText)) as { deviceId: string }[]).map((c) => c.deviceId)).toEqual(["L1", "L2", "L3", "L4"]);
      if ("file" in claimsText) expect(existsSync(claimsText.file)).toBe(false);
      expect(await v.projects()).toEqual([project]);
      await v.logReport({ id: "r1", kind: "verification", params: { town: "来苏镇" }, digest: "d1", keyName: null, createdAt: T });
      await v.logReport({ id: "r2", kind: "verification", params: {}, digest: "d2", keyName: "k", createdAt: T + 1 });
      expect((await v.reports(10)).map((r) => [r.id, r.createdAt, r.params])).toEqual([
        ["r2", T + 1, {}],
        ["r1", T, { town: "来苏镇" }],
      ]);
    });

    it("alerts: open ones back, resolved ones filtered and newest first; channels, silences and deliveries", async () => {
      const store = alertStore(state.db);
      const alert = (id: string, extra: Partial<Alert>): Alert => ({
        id,
        deviceId: "L1",
        family: "streetlight",
        type: "dark",
        severity: "minor",
        state: "firing",
        since: T,
        resolvedAt: null,
        town: "来苏镇",
        village: "梳妆台村",
        station: null,
        detail: null,
        assignee: null,
        suppressedBy: null,
        history: [],
        ...extra,
      });
      await store.putAlert(alert("a1", {}));
      await store.putAlert(alert("a2", { state: "resolved", since: T + 10, resolvedAt: T + 20 }));
      await store.putAlert(alert("a3", { state: "resolved", since: T + 30, town: "other", type: "offline" }));
      await store.putAlert(alert("a4", { state: "resolved", since: T + 5, station: "QJ", town: null, family: "blender" }));
      await store.putAlert(alert("a1", { state: "acknowledged", assignee: "u1" }));
      expect((await store.openAlerts()).map((a) => [a.id, a.state, a.assignee])).toEqual([["a1", "acknowledged", "u1"]]);
      expect((await store.getAlert("a2"))?.resolvedAt).toBe(T + 20);
      expect((await store.resolvedAlerts({ limit: 10 })).map((a) => a.id)).toEqual(["a3", "a2", "a4"]);
      expect((await store.resolvedAlerts({ limit: 10, towns: ["来苏镇"] })).map((a) => a.id)).toEqual(["a2"]);
      expect((await store.resolvedAlerts({ limit: 10, type: "offline" })).map((a) => a.id)).toEqual(["a3"]);
      expect((await store.resolvedAlerts({ limit: 10, station: "QJ" })).map((a) => a.id)).toEqual(["a4"]);
      expect(await store.resolvedAlerts({ limit: 10, towns: [] })).toEqual([]);
      expect((await store.resolvedAlerts({ limit: 1 })).map((a) => a.id)).toEqual(["a3"]);

      await store.putChannel("c1", { id: "c1", n: 1 });
      await store.putChannel("c1", { id: "c1", n: 2 });
      await store.putSilence("s1", { id: "s1" });
      expect(await store.channels()).toEqual([{ id: "c1", n: 2 }]);
      await store.deleteChannel("c1");
      expect(await store.channels()).toEqual([]);
      expect(await store.silences()).toEqual([{ id: "s1" }]);
      await store.deleteSilence("s1");
      expect(await store.silences()).toEqual([]);
      for (const [id, createdAt] of [
        ["d1", T + 9],
        ["d2", T + 100],
        ["d3", T + 10],
      ] as const)
        await store.putDelivery(id, "c1", { id, createdAt });
      await store.putDelivery("d4", "c2", { id: "d4", createdAt: T + 1000 });
      expect((await store.deliveries<{ id: string }>("c1", 2)).map((d) => d.id)).toEqual(["d2", "d3"]);
    });

    it("work orders: upserted with their state, listed by state and town newest first; photos' bytes; idempotent answers once", async () => {
      const store = fieldworkStore(state.db);
      const order = (id: string, extra: Partial<WorkOrder>): WorkOrder => ({
        id,
        town: "来苏镇",
        lights: [{ id: "L1", village: "梳妆台村", lat: 29.35, lon: 105.91 }],
        alertIds: [],
        types: ["dark"],
        problem: null,
        priority: "major",
        dueAt: T + 72 * 3600_000,
        assignee: null,
        state: "open",
        reason: null,
        createdAt: T,
        createdBy: "王工",
        updatedAt: T,
        closedAt: null,
        reopened: 0,
        checkIns: [],
        record: null,
        photos: [],
        proof: null,
        history: [],
        ...extra,
      });
      await store.putOrder(order("w1", {}));
      await store.putOrder(order("w2", { createdAt: T + 10, town: "三角镇" }));
      await store.putOrder(order("w3", { createdAt: T + 20, state: "done" }));
      await store.putOrder(order("w1", { state: "assigned", assignee: "李师傅" }));
      expect((await store.getOrder("w1"))?.assignee).toBe("李师傅");
      expect(await store.getOrder("absent")).toBeUndefined();
      expect((await store.orders({ limit: 10 })).map((o) => o.id)).toEqual(["w3", "w2", "w1"]);
      expect((await store.orders({ limit: 10, states: ["assigned", "done"], towns: ["来苏镇"] })).map((o) => [o.id, o.state])).toEqual([
        ["w3", "done"],
        ["w1", "assigned"],
      ]);
      expect(await store.orders({ limit: 10, towns: [] })).toEqual([]);
      expect((await store.orders({ limit: 1 })).map((o) => o.id)).toEqual(["w3"]);
      // by light (a light's work history) and by assignee, paged, counted; "_" in an id is no wildcard
      await store.putOrder(order("w4", { createdAt: T + 30, lights: [{ id: "L_2", village: null, lat: null, lon: null }] }));
      await store.putOrder(order("w5", { createdAt: T + 40, lights: [{ id: "LX2", village: null, lat: null, lon: null }] }));
      expect((await store.orders({ limit: 10, light: "L1" })).map((o) => o.id)).toEqual(["w3", "w2", "w1"]);
      expect((await store.orders({ limit: 1, offset: 1, light: "L1" })).map((o) => o.id)).toEqual(["w2"]);
      expect(await store.count({ light: "L1", towns: ["来苏镇"] })).toBe(2);
      expect((await store.orders({ limit: 10, light: "L_2" })).map((o) => o.id)).toEqual(["w4"]);
      expect(await store.count({ light: "L%" })).toBe(0);
      expect((await store.orders({ limit: 10, assignee: "李师傅" })).map((o) => o.id)).toEqual(["w1"]);
      expect(await store.count({ towns: [] })).toBe(0);

      const bytes = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x01, 0xfe, 0xff, 0xd9]);
      const meta: PhotoMeta = { id: "p1", orderId: "w1", mediaType: "image/jpeg", bytes: bytes.length, at: T, who: "王工", takenAt: null, gps: null };
      await store.putPhoto(meta, bytes);
      const got = await store.photo("w1", "p1");
      expect(got?.meta).toEqual(meta);
      expect(got?.data.equals(bytes)).toBe(true);
      expect(await store.photo("w2", "p1")).toBeUndefined(); // another order's photo id is not this order's

      await store.putAnswer("k1", { fingerprint: "f1", status: 201, response: '{"id":"w1"}' }, T);
      await store.putAnswer("k1", { fingerprint: "f2", status: 200, response: "{}" }, T + 1); // the first answer stays
      expect(await store.answer("k1")).toEqual({ fingerprint: "f1", status: 201, response: '{"id":"w1"}' });
      await store.pruneAnswers(T + 1);
      expect(await store.answer("k1")).toBeUndefined();
    });

    it("field visits: newest first by town; their images' bytes", async () => {
      const store = visitStore(state.db);
      const visit = (id: string, town: string, at: number): Visit => ({
        id,
        deviceId: `D-${id}`,
        town,
        village: null,
        inspector: "张科员",
        at,
        receivedAt: at,
        lat: 29.35,
        lon: 105.91,
        accuracyM: null,
        distanceM: 3,
        foundAtPole: true,
        poleNumber: null,
        controllerSerial: null,
        serialMatches: null,
        lit: null,
        statement: null,
        images: [],
      });
      await store.put(visit("v1", "来苏镇", T));
      await store.put(visit("v2", "三角镇", T + 1));
      await store.put(visit("v3", "来苏镇", T + 2));
      expect((await store.list({ limit: 10 })).map((v) => v.id)).toEqual(["v3", "v2", "v1"]);
      expect((await store.list({ limit: 10, towns: ["来苏镇"] })).map((v) => v.id)).toEqual(["v3", "v1"]);
      expect(await store.list({ limit: 10, towns: [] })).toEqual([]);
      // as one JSON text (for the report's worker thread): the same visits, in the same order
      expect(JSON.parse(readBigText(await store.listText()))).toEqual(await store.list({ limit: 10 }));
      expect(JSON.parse(readBigText(await store.listText(["来苏镇"])))).toEqual(await store.list({ limit: 10, towns: ["来苏镇"] }));
      expect(readBigText(await store.listText(["石角镇"]))).toBe("[]");
      expect(readBigText(await store.listText([]))).toBe("[]");
      const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]);
      const meta = {
        id: "i1",
        visitId: "v1",
        kind: "signature" as const,
        mediaType: "image/png" as const,
        bytes: 7,
        at: T,
        takenAt: null,
        gps: null,
      };
      await store.putImage(meta, bytes);
      expect((await store.image("v1", "i1"))?.data.equals(bytes)).toBe(true);
      expect(await store.image("v2", "i1")).toBeUndefined();
    });

    it("claimed jobs: one holder per (job, due), taken over only once abandoned (token + 1), fenced deliveries recorded once", async () => {
      let now = T;
      const a = jobClaims(state.db, "A", () => now, 60_000);
      const b = jobClaims(state.db, "B", () => now, 60_000);
      const c1 = await a.claim("digest", "2026-11-01");
      expect(c1).toEqual({ job: "digest", due: "2026-11-01", token: 1 });
      expect(await b.claim("digest", "2026-11-01")).toBeNull(); // held, and A's session is alive
      expect(await b.claim("digest", "2026-11-02")).toEqual({ job: "digest", due: "2026-11-02", token: 1 });
      // a delivery under A's claim is recorded once, whoever asks next
      const store = alertStore(state.db);
      expect(await store.claimDelivery("digest/2026-11-01/t/c1", "c1", { id: "x", createdAt: T }, c1 as never)).toBe(true);
      expect(await store.claimDelivery("digest/2026-11-01/t/c1", "c1", { id: "x", createdAt: T }, c1 as never)).toBe(false);
      // past the lease, B takes it over: A's token no longer holds, so A records nothing more and cannot finish it
      now += 60_001;
      const c2 = await b.claim("digest", "2026-11-01");
      expect(c2?.token).toBe(2);
      expect(await a.holds(c1 as never)).toBe(false);
      expect(await store.claimDelivery("digest/2026-11-01/t/c2", "c2", { id: "y", createdAt: T }, c1 as never)).toBe(false);
      expect(await a.done(c1 as never)).toBe(false);
      expect(await store.claimDelivery("digest/2026-11-01/t/c2", "c2", { id: "y", createdAt: T }, c2 as never)).toBe(true);
      expect(await b.done(c2 as never)).toBe(true);
      // done: nobody takes it over any more, however long after
      now += 3_600_000;
      expect(await a.claim("digest", "2026-11-01")).toBeNull();
      // once: the first caller only; run: fn only for the holder, and a failed run stays open for a takeover
      expect(await a.once("reminder", "c1/a1/1")).toBe(true);
      expect(await b.once("reminder", "c1/a1/1")).toBe(false);
      expect(await a.run("nightly records", "7", () => "ran")).toBe("ran");
      expect(await b.run("nightly records", "7", () => "ran")).toBeUndefined();
      await expect(a.run("retention", "9", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
      now += 60_001;
      expect(await b.run("retention", "9", () => "again")).toBe("again");
      await a.prune(now - 1000);
      expect(await state.db.all("SELECT job FROM job_claims")).toEqual([{ job: "retention" }]);
    });

    it("alerts: the open one of a device and type; a change made apart is merged; a second open alert is refused where shared", async () => {
      const store = alertStore(state.db);
      const base: Alert = {
        id: "m1",
        deviceId: "L9",
        family: "streetlight",
        type: "dark",
        severity: "major",
        state: "firing",
        since: T,
        resolvedAt: null,
        town: "来苏镇",
        village: null,
        station: null,
        detail: null,
        assignee: null,
        suppressedBy: null,
        history: [{ at: T, who: "system", action: "fired" }],
      };
      await store.putAlert(base);
      expect((await store.openAlertFor("L9", "dark"))?.id).toBe("m1");
      expect(await store.openAlertFor("L9", "offline")).toBeUndefined();
      // two copies changed apart: an acknowledgement on one, a comment (later) on the other
      const acked: Alert = { ...base, state: "acknowledged", history: [...base.history, { at: T + 1, who: "王工", action: "acknowledged" }] };
      const commented: Alert = { ...base, history: [...base.history, { at: T + 2, who: "李工", action: "commented", text: "换灯" }] };
      await store.putAlert(acked);
      const written = await store.putAlert(commented);
      if (dialect === "postgres") {
        // the shared store keeps both (each instance writes its own copy)
        expect(written.history.map((h) => h.action)).toEqual(["fired", "acknowledged", "commented"]);
        expect((await store.getAlert("m1"))?.history).toHaveLength(3);
        const second = { ...base, id: "m2" };
        const refused = await store.putAlert(second).then(
          () => null,
          (e: unknown) => e,
        );
        expect(isOpenAlertConflict(refused)).toBe(true);
        // resolved, the problem may open again
        await store.putAlert({ ...(written as Alert), state: "resolved", resolvedAt: T + 3 });
        await store.putAlert(second);
        expect((await store.openAlertFor("L9", "dark"))?.id).toBe("m2");
      } else {
        // the embedded store has one instance, whose engine writes its one copy: the last write is the alert
        expect(written).toBe(commented);
        expect((await store.getAlert("m1"))?.history).toHaveLength(2);
      }
    });

    it("light control: commands written many at a time and updated in place, pending back, counts, applied settings, campaigns", async () => {
      const store = controlStore(state.db, "control_seq");
      const cmd = (i: number, extra: Partial<LightCommand> = {}): LightCommand => ({
        id: `C${i}`,
        deviceId: `L-${i % 3}`,
        town: i % 2 ? "来苏镇" : "三角镇",
        campaignId: i < 250 ? "K1" : null,
        name: "profile",
        body: { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct: 50 }] },
        state: "created",
        createdBy: "王工",
        createdAt: T + i,
        sentAt: null,
        sends: 0,
        answeredAt: null,
        expiresAt: T + 3_600_000,
        reason: null,
        ...extra,
      });
      await store.writeCommands(Array.from({ length: 260 }, (_, i) => cmd(i)));
      await store.writeCommands([cmd(1, { state: "sent", sentAt: T + 5, sends: 1 }), cmd(2, { state: "sent", sentAt: T + 5, sends: 1 })]);
      const applied: Applied = {
        deviceId: "L-1",
        profile: { commandId: "C1", body: { mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct: 50 }] }, at: T + 9 },
        override: null,
        config: null,
        rejected: null,
        clockOffsetMs: -1500,
        timeSentAt: null,
      };
      await store.writeAnswers(
        [
          cmd(1, { state: "applied", sentAt: T + 5, sends: 1, answeredAt: T + 9 }),
          cmd(2, { state: "rejected", sentAt: T + 5, sends: 1, answeredAt: T + 9, reason: "unsupported" }),
        ],
        [applied],
        42,
      );
      expect(await store.checkpoint()).toBe(42);
      expect(await store.command("C2")).toEqual(cmd(2, { state: "rejected", sentAt: T + 5, sends: 1, answeredAt: T + 9, reason: "unsupported" }));
      expect((await store.pending()).length).toBe(258);
      expect(await store.countsOf("K1")).toEqual({ byState: { created: 248, applied: 1, rejected: 1 }, sent: 2 });
      expect((await store.list({ deviceId: "L-1", towns: ["来苏镇"], limit: 5 })).map((c) => c.id)).toEqual(["C259", "C253", "C247", "C241", "C235"]);
      expect(await store.list({ towns: [], limit: 5 })).toEqual([]);
      expect(await store.allApplied()).toEqual([applied]);
      const k: Campaign = {
        id: "K1",
        name: "冬季调光",
        target: { town: "来苏镇", village: "梳妆台村" },
        town: "来苏镇",
        command: { name: "profile", body: {} },
        state: "running",
        createdBy: "王工",
        createdAt: T,
        expiresAt: T + 3_600_000,
        lights: 250,
        estimate: null,
      };
      await store.putCampaign(k);
      await store.putCampaign({ ...k, state: "paused" });
      expect(await store.campaign("K1")).toEqual({ ...k, state: "paused" });
      expect(await store.campaigns(10)).toEqual([{ ...k, state: "paused" }]);
      await state.close();
      state = await fx.open();
      expect((await controlStore(state.db, "control_seq").pending()).length).toBe(258);
    });

    it("light control: each light's profile history, and the retention of commands, campaigns and replaced profiles", async () => {
      const store = controlStore(state.db, "control_seq");
      const p = (pct: number) => ({ mode: "dusk_to_dawn", stages: [{ afterDuskH: 0, pct }] });
      await store.writeAnswers([], [], null, [
        { deviceId: "L-1", at: T - 500, commandId: "C-a", body: p(100) },
        { deviceId: "L-1", at: T - 300, commandId: "C-b", body: p(70) },
        { deviceId: "L-1", at: T - 100, commandId: "C-c", body: p(50) },
        { deviceId: "L-2", at: T - 400, commandId: "C-d", body: p(60) },
      ]);
      // written again (a replayed log): no second row
      await store.writeAnswers([], [], null, [{ deviceId: "L-1", at: T - 500, commandId: "C-a", body: p(100) }]);
      expect((await store.profileHistory()).map((h) => [h.deviceId, h.commandId, h.body])).toEqual([
        ["L-1", "C-a", p(100)],
        ["L-1", "C-b", p(70)],
        ["L-1", "C-c", p(50)],
        ["L-2", "C-d", p(60)],
      ]);
      const cmd = (id: string, state: LightCommand["state"], at: number, campaignId: string | null): LightCommand => ({
        id,
        deviceId: "L-1",
        town: "来苏镇",
        campaignId,
        name: "override",
        body: {},
        state,
        createdBy: "王工",
        createdAt: at,
        sentAt: null,
        sends: 0,
        answeredAt: state === "created" ? null : at,
        expiresAt: at + 1000,
        reason: null,
      });
      await store.writeCommands([cmd("P1", "applied", T - 400, "K-P"), cmd("P2", "created", T - 400, null), cmd("P3", "expired", T - 100, "K-Q")]);
      for (const [id, at] of [
        ["K-P", T - 450],
        ["K-Q", T - 450],
      ] as const) {
        await store.putCampaign({
          id,
          name: id,
          target: {},
          town: null,
          command: { name: "override", body: {} },
          state: "done",
          createdBy: "王工",
          createdAt: at,
          expiresAt: at,
          lights: 1,
          estimate: null,
        });
      }
      expect(await store.prune(T - 200)).toEqual({ commands: 1, campaigns: 1, profiles: 1 });
      expect((await store.profileHistory()).map((h) => h.commandId)).toEqual(["C-b", "C-c", "C-d"]);
      expect(await store.command("P1")).toBeUndefined();
      expect((await store.command("P2"))?.state).toBe("created");
      expect(await store.campaign("K-P")).toBeUndefined();
      expect((await store.campaign("K-Q"))?.id).toBe("K-Q");
    });
  });
}

/** A factory for the embedded store in `dir` (the default). */
export function duckDbFactory(dir: () => { path: string; remove: () => void }) {
  return async () => {
    const d = dir();
    return { open: () => openStateStore(d.path), cleanup: () => d.remove() };
  };
}
