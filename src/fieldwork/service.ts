import { randomUUID } from "node:crypto";
import { type Named, named, type Place } from "../access/scope.js";
import { addDays, DAY_MS } from "../platform/clock.js";
import { conflict, invalid, notFound } from "../platform/errors.js";
import type { Message } from "../platform/i18n.js";
import { DARK_NIGHTS, fieldFigures } from "./figures.js";
import { fieldworkMessage as msg } from "./messages.js";
import type { Change, PhotoMeta, Position, WorkOrder } from "./model.js";
import { type PhotoTakenInput, taken } from "./once.js";
import { takePhoto } from "./photo.js";
import {
  type Done,
  dueAt,
  FINISHED,
  type Found,
  highest,
  judgeCheckIn,
  judgeReading,
  type Move,
  mayMove,
  nearestPole,
  type Severity,
  type WorkState,
} from "./rules.js";
import type { FieldworkStore, OrderQuery } from "./store.js";

export type { Change, CheckIn, LightProof, PhotoMeta, Position, WorkOrder } from "./model.js";

export type FieldSettings = {
  dueH: Record<Severity, number>;
  checkInFlagM: number;
  checkInMaxM: number;
  photoMaxBytes: number;
  /** Failing readings in a row after a repair that reopen the order. */
  proofBadReadings: number;
  /** No reading this long after a repair: the order reopens. */
  proofWindowMs: number;
};
export const PHOTOS_PER_ORDER = 20;
/** A phone's clock may run this far ahead of the service's. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** What field work reads of alerts and lights (the composition root wires the alert engine, the registry and the
 * streetlight monitor in). */
export type FieldDeps = {
  store: FieldworkStore;
  clock: () => number;
  settings: FieldSettings;
  alert: (
    id: string,
  ) => Promise<
    { id: string; deviceId: string; family: string; type: string; severity: Severity; town: string | null; village: string | null } | undefined
  >;
  light: (
    id: string,
  ) => { id: string; family: string; town: string | null; village: string | null; lat: number | null; lon: number | null } | undefined;
  villageLights: (
    town: string,
    village: string,
  ) => { id: string; town: string | null; village: string | null; lat: number | null; lon: number | null }[];
  /** The light's live condition as the monitor holds it now, and the time of its newest reading. */
  condition: (id: string) => { condition: string; detail: Message | null };
  lastReadingAt: (id: string) => number | null;
  /** The nightly records (the streetlight feature's): the latest night recorded and the class of each light not lit that night. */
  nights: { latestDate: () => Promise<string | null>; unlitOn: (date: string) => Promise<Map<string, string>> };
  onError?: (e: unknown) => void;
};

type By = { who: string; at?: number | undefined; position?: Position | undefined };

export async function createFieldwork(deps: FieldDeps) {
  const { store, clock, settings } = deps;
  /** Orders awaiting their light's proof, by light: loaded at start, bounded by the open orders. */
  const awaiting = new Map<string, Set<string>>();
  const watch = (o: WorkOrder) => {
    for (const l of o.lights) {
      const s = awaiting.get(l.id) ?? new Set<string>();
      s.add(o.id);
      awaiting.set(l.id, s);
    }
  };
  const unwatch = (o: WorkOrder) => {
    for (const l of o.lights) {
      const s = awaiting.get(l.id);
      s?.delete(o.id);
      if (s?.size === 0) awaiting.delete(l.id);
    }
  };
  for (const o of await store.orders({ states: ["done"], limit: 1_000_000 })) watch(o);

  /** One change at a time per order (read, change, write), so two phones or a reading and a phone cannot lose one. */
  const chains = new Map<string, Promise<unknown>>();
  const serial = <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const run = (chains.get(id) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    chains.set(id, tail);
    tail
      .then(() => {
        if (chains.get(id) === tail) chains.delete(id);
      })
      .catch(() => undefined); // (tail never rejects; the deletion cannot throw)
    return run;
  };
  const load = async (id: string) => {
    const o = await store.getOrder(id);
    if (!o) throw notFound("work_order", id);
    return o;
  };
  const when = (at: number | undefined, now: number) => {
    if (at === undefined) return now;
    if (at > now + CLOCK_SKEW_MS) throw invalid(msg("time_in_future", { at }));
    return at;
  };
  const change = (o: WorkOrder, by: By, action: Change["action"], extra: Partial<Change> = {}) => {
    const now = clock();
    o.history.push({
      at: when(by.at, now),
      receivedAt: now,
      who: by.who,
      action,
      lat: by.position?.lat ?? null,
      lon: by.position?.lon ?? null,
      ...extra,
    });
    o.updatedAt = now;
  };
  const update = (id: string, fn: (o: WorkOrder) => void | Promise<void>) =>
    serial(id, async () => {
      const o = await load(id);
      await fn(o);
      await store.putOrder(o);
      return o;
    });

  /** Moves an order to `to` (checks the move), with the reason, the assignee and where the phone was. */
  const moveTo = (o: WorkOrder, to: WorkState, by: By, text?: string) => {
    if (!mayMove(o.state, to)) throw conflict(msg("move_not_allowed", { from: o.state, to }));
    o.state = to;
    if (FINISHED.has(to)) o.closedAt = clock();
    change(o, by, to, text !== undefined ? { text } : {});
  };

  const reopen = (o: WorkOrder, message: Message) => {
    unwatch(o);
    o.state = o.assignee ? "assigned" : "open";
    o.reopened++;
    o.proof = null;
    change(o, { who: "system" }, "reopened", { message });
  };

  return {
    get: (id: string) => store.getOrder(id),
    /** Where an order is (its town), for the access owner. */
    async placeOf(id: string) {
      const o = await store.getOrder(id);
      return o ? o.town : null;
    },
    /** The town an order to be made is in (its first alert's or light's), for the access owner; null if none is known. */
    /** The alerts and lights a new order names, each with its place (null: unknown), for the access owner. */
    async namedIn(input: { alertIds?: string[] | undefined; lightIds?: string[] | undefined }): Promise<Named[]> {
      const alerts = new Map<string, Place | null>();
      for (const id of input.alertIds ?? []) {
        const a = await deps.alert(id);
        alerts.set(id, a ? { town: a.town, station: null } : null);
      }
      return [
        ...named("alert", input.alertIds ?? [], (id) => alerts.get(id) ?? null),
        ...named("streetlight", input.lightIds ?? [], (id) => {
          const l = deps.light(id);
          return l?.family === "streetlight" ? { town: l.town, station: null } : null;
        }),
      ];
    },
    list: (q: OrderQuery & { limit: number; offset?: number }) => store.orders(q),
    count: (q: OrderQuery) => store.count(q),
    /** A light's town, for scoping a list by light (undefined: no such light). */
    lightTown: (id: string): string | null | undefined => {
      const l = deps.light(id);
      return l ? l.town : undefined;
    },

    /** The morning digest's field-work line for a town, or null when there is nothing to say. */
    async digestLine(town: string, now = clock()): Promise<Message | null> {
      const f = await this.figures({ towns: [town], days: 30 }, now);
      const open = f.openByTown[town] ?? { open: 0, overdue: 0 };
      const darkOver3 = f.darkOver3Nights[town]?.count ?? 0;
      if (open.open === 0 && f.closed === 0 && darkOver3 === 0) return null;
      return msg("field_digest", { open: open.open, overdue: open.overdue, closed: f.closed, firstTimeFix: f.firstTimeFix, darkOver3 });
    },
    /**
     * The district manager's figures over orders made in the last `days` (and every order still open), of these towns
     * (all when undefined); the lights unlit on each of the last DARK_NIGHTS recorded nights, by town.
     */
    async figures(q: { towns?: readonly string[] | undefined; days: number }, now = clock()) {
      const orders = (await store.orders({ towns: q.towns, limit: 1_000_000 })).filter(
        (o) => o.createdAt >= now - q.days * DAY_MS || !["closed", "cannot_fix", "cancelled"].includes(o.state),
      );
      const last = await deps.nights.latestDate();
      const dark = new Map<string, string[]>();
      if (last) {
        // (only the lights not lit each night: every light's class, 4 nights a town, held the service's thread)
        const nights = await Promise.all(Array.from({ length: DARK_NIGHTS }, (_, k) => deps.nights.unlitOn(addDays(last, -k))));
        for (const id of (nights[0] ?? new Map<string, string>()).keys()) {
          if (!nights.every((n) => n.has(id))) continue;
          const town = deps.light(id)?.town;
          if (!town || (q.towns && !q.towns.includes(town))) continue;
          dark.set(town, [...(dark.get(town) ?? []), id]);
        }
      }
      for (const ids of dark.values()) ids.sort();
      return {
        ...fieldFigures(orders, dark, now),
        days: q.days,
        from: now - q.days * DAY_MS,
        to: now,
        lastNight: last,
        darkNights: last ? { first: addDays(last, -(DARK_NIGHTS - 1)), last } : null,
      };
    },

    async create(
      input: {
        alertIds?: string[] | undefined;
        lightIds?: string[] | undefined;
        problem?: string | undefined;
        priority?: Severity | undefined;
        assignee?: string | undefined;
      },
      by: By,
    ): Promise<WorkOrder> {
      const alertIds = [...new Set(input.alertIds ?? [])];
      const lightIds = new Set(input.lightIds ?? []);
      if (alertIds.length === 0 && lightIds.size === 0) throw invalid(msg("order_empty", {}));
      const severities: Severity[] = [];
      const types = new Set<string>();
      for (const id of alertIds) {
        const a = await deps.alert(id);
        if (!a) throw notFound("alert", id);
        if (a.family === "village" && a.town && a.village) for (const l of deps.villageLights(a.town, a.village)) lightIds.add(l.id);
        else if (a.family === "streetlight") lightIds.add(a.deviceId);
        else throw invalid(msg("alert_not_light", { alertId: id, type: a.type }));
        severities.push(a.severity);
        types.add(a.type);
      }
      const lights = [...lightIds].map((id) => {
        const l = deps.light(id);
        if (l?.family !== "streetlight") throw invalid(msg("not_a_light", { id }));
        return l;
      });
      const towns = [...new Set(lights.map((l) => l.town ?? ""))];
      if (towns.length !== 1 || !towns[0]) throw invalid(msg("order_towns", { towns }));
      const now = clock();
      const priority = input.priority ?? highest(severities);
      const o: WorkOrder = {
        id: randomUUID(),
        town: towns[0],
        lights: lights.map((l) => ({ id: l.id, village: l.village, lat: l.lat, lon: l.lon })),
        alertIds,
        types: types.size ? [...types] : ["manual"],
        problem: input.problem ?? null,
        priority,
        dueAt: dueAt(now, priority, settings.dueH),
        assignee: input.assignee ?? null,
        state: input.assignee ? "assigned" : "open",
        reason: null,
        createdAt: now,
        createdBy: by.who,
        updatedAt: now,
        closedAt: null,
        reopened: 0,
        checkIns: [],
        record: null,
        photos: [],
        proof: null,
        history: [],
      };
      change(o, by, "created", input.assignee ? { text: input.assignee } : {});
      await store.putOrder(o);
      return o;
    },

    /** A person moves the order on: assigned (to someone), on the way, on site, cannot fix (why), cancelled (why). */
    move: (id: string, to: Move, by: By & { reason?: string | undefined; assignee?: string | undefined }) =>
      update(id, (o) => {
        if ((to === "cannot_fix" || to === "cancelled") && !by.reason) throw invalid(msg("reason_required", {}));
        if (to === "assigned") {
          const assignee = by.assignee ?? o.assignee;
          if (!assignee) throw invalid(msg("assignee_required", {}));
          o.assignee = assignee;
          moveTo(o, to, by, assignee);
          return;
        }
        if (to === "cannot_fix" || to === "cancelled") o.reason = by.reason ?? null;
        moveTo(o, to, by, by.reason);
      }),

    /**
     * The phone at the pole: its position and the distance to the order's nearest pole. Beyond the flag distance it is
     * recorded and flagged; beyond the maximum it is refused (a phone kilometres away is not at the pole). An order not
     * yet on site is put on site.
     */
    checkIn: (id: string, by: By & { position: Position }) =>
      update(id, (o) => {
        const near = nearestPole(by.position, o.lights);
        const verdict = judgeCheckIn(near?.distanceM ?? null, { flagM: settings.checkInFlagM, maxM: settings.checkInMaxM });
        if (verdict === "refused" && near) throw invalid(msg("check_in_too_far", { distanceM: near.distanceM, maxM: settings.checkInMaxM }));
        if (o.state !== "on_site") moveTo(o, "on_site", by);
        const message = !near
          ? msg("check_in_no_pole", {})
          : verdict === "flagged"
            ? msg("check_in_far", { distanceM: near.distanceM, flagM: settings.checkInFlagM })
            : undefined;
        o.checkIns.push({
          at: when(by.at, clock()),
          who: by.who,
          lat: by.position.lat,
          lon: by.position.lon,
          accuracyM: by.position.accuracyM ?? null,
          poleId: near?.id ?? null,
          distanceM: near?.distanceM ?? null,
          flagged: verdict !== "near",
        });
        change(o, by, "checked_in", message ? { message } : {});
      }),

    /**
     * The on-site record, and the order done: what was found and done, parts, notes. The alerts are not resolved here:
     * the light's next readings decide (`onReading`): the order closes when they prove the repair, and reopens when
     * they do not.
     */
    complete: (id: string, by: By & { found: Found[]; done: Done[]; parts: { name: string; qty: number }[]; notes?: string | undefined }) =>
      update(id, (o) => {
        if (!mayMove(o.state, "done")) throw conflict(msg("move_not_allowed", { from: o.state, to: "done" }));
        o.record = { found: by.found, done: by.done, parts: by.parts, notes: by.notes ?? null };
        moveTo(o, "done", by);
        o.proof = {
          since: clock(),
          lights: Object.fromEntries(
            o.lights.map((l) => [l.id, { after: deps.lastReadingAt(l.id) ?? 0, state: "pending" as const, bad: 0, last: null, provenAt: null }]),
          ),
        };
        watch(o);
      }),

    /** A photo for the order: a JPEG or PNG (by its bytes) within the size limit, kept without its metadata. */
    async addPhoto(id: string, bytes: Buffer, by: By, read?: PhotoTakenInput): Promise<PhotoMeta> {
      const clean = takePhoto(bytes, settings.photoMaxBytes);
      let meta: PhotoMeta | undefined;
      await update(id, async (o) => {
        if (o.photos.length >= PHOTOS_PER_ORDER) throw invalid(msg("photo_too_many", { max: PHOTOS_PER_ORDER }));
        meta = {
          id: randomUUID(),
          orderId: o.id,
          mediaType: clean.mediaType,
          bytes: clean.data.length,
          at: when(by.at, clock()),
          who: by.who,
          ...taken(clean, read),
        };
        await store.putPhoto(meta, clean.data);
        o.photos.push(meta);
        change(o, by, "photo", { text: meta.id });
      });
      return meta as PhotoMeta;
    },
    photo: (orderId: string, id: string) => store.photo(orderId, id),

    /**
     * A reading was accepted and applied by the streetlight monitor (this listens after it): for each order awaiting
     * this light's proof, the light's condition now is judged. Returns when the orders concerned are written (null when none waits).
     */
    onReading(deviceId: string, ts: number): Promise<void> | null {
      const ids = awaiting.get(deviceId);
      if (!ids || ids.size === 0) return null; // (no promise for the readings of lights no order waits for: nearly all)
      const seen = deps.condition(deviceId); // now, before a later reading changes it
      return Promise.all(
        [...ids].map((orderId) =>
          serial(orderId, async () => {
            const o = await store.getOrder(orderId);
            const p = o?.proof?.lights[deviceId];
            if (o?.state !== "done" || !o.proof || !p || p.state !== "pending" || ts <= p.after) return;
            const verdict = judgeReading(seen.condition, o.types);
            if (verdict === "waits") {
              p.bad = 0;
              return;
            }
            if (verdict === "proves") {
              p.state = "proven";
              p.provenAt = ts;
              if (Object.values(o.proof.lights).every((x) => x.state === "proven")) {
                unwatch(o);
                o.state = "closed";
                o.closedAt = clock();
                change(o, { who: "system" }, "closed", { message: msg("repair_proven", { lights: o.lights.length, reading: ts }) });
              }
            } else {
              p.bad++;
              p.last = { ts, condition: seen.condition, detail: seen.detail };
              if (p.bad >= settings.proofBadReadings) {
                p.state = "failed";
                reopen(o, msg("repair_not_proven", { deviceId, condition: seen.condition, readings: p.bad, reading: ts, detail: seen.detail }));
              }
            }
            await store.putOrder(o);
          }),
        ),
      ).then(
        () => undefined,
        (e: unknown) => deps.onError?.(e),
      );
    },

    /** Orders done longer than the proof window ago whose light said nothing since: reopened. Returns how many. */
    async checkProofs(now = clock()): Promise<number> {
      let n = 0;
      const ids = new Set([...awaiting.values()].flatMap((s) => [...s]));
      for (const id of ids)
        await serial(id, async () => {
          const o = await store.getOrder(id);
          if (o?.state !== "done" || !o.proof || now - o.proof.since < settings.proofWindowMs) return;
          reopen(o, msg("repair_no_readings", { hours: Math.round(settings.proofWindowMs / 3600_000) }));
          await store.putOrder(o);
          n++;
        });
      return n;
    },
  };
}
export type Fieldwork = Awaited<ReturnType<typeof createFieldwork>>;
