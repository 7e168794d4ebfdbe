import { randomUUID } from "node:crypto";
import { invalid, notFound } from "../platform/errors.js";
import { type BigText, bigText, type Db, type Migration } from "../storage/sql.js";
import { fieldworkMessage as msg } from "./messages.js";
import { type PhotoTakenInput, taken } from "./once.js";
import { takePhoto } from "./photo.js";
import { metres } from "./rules.js";

/** Field verification visits (the bureau's visit list, recorded at the poles) and their images (photo, signature). */
export const VISITS_MIGRATION: Migration = {
  version: 10,
  name: "field verification visits and their images",
  sql: `
    CREATE TABLE field_visits (id VARCHAR PRIMARY KEY, device_id VARCHAR NOT NULL, town VARCHAR NOT NULL, visited_at BIGINT NOT NULL, body JSON NOT NULL);
    CREATE TABLE visit_images (id VARCHAR PRIMARY KEY, visit_id VARCHAR NOT NULL, media_type VARCHAR NOT NULL, data TEXT NOT NULL, body JSON NOT NULL);
  `,
  postgres: `
    CREATE TABLE field_visits (id VARCHAR PRIMARY KEY, device_id VARCHAR NOT NULL, town VARCHAR NOT NULL, visited_at BIGINT NOT NULL, body TEXT NOT NULL);
    CREATE TABLE visit_images (id VARCHAR PRIMARY KEY, visit_id VARCHAR NOT NULL, media_type VARCHAR NOT NULL, data TEXT NOT NULL, body TEXT NOT NULL);
  `,
};

export type VisitImage = {
  id: string;
  visitId: string;
  kind: "photo" | "signature";
  mediaType: "image/jpeg" | "image/png";
  bytes: number;
  at: number;
  takenAt: number | null;
  gps: { lat: number; lon: number } | null;
};
export type Visit = {
  id: string;
  deviceId: string;
  town: string;
  village: string | null;
  inspector: string;
  at: number;
  receivedAt: number;
  lat: number;
  lon: number;
  accuracyM: number | null;
  /** From the phone to the claimed pole's coordinates. */
  distanceM: number;
  foundAtPole: boolean;
  poleNumber: string | null;
  controllerSerial: string | null;
  /** The serial read on site against the claim's (null when none was read). */
  serialMatches: boolean | null;
  /** Lit at a night visit (null: not said, a day visit). */
  lit: boolean | null;
  statement: string | null;
  images: VisitImage[];
};
/** A claim as a visit needs it (the verification feature's claims list joined with its project). */
export type ClaimAt = { deviceId: string; town: string; village: string | null; lat: number; lon: number; controllerSerial: string };

export function visitStore(db: Db) {
  return {
    put: (v: Visit) =>
      db.run(
        "INSERT INTO field_visits (id, device_id, town, visited_at, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        [v.id, v.deviceId, v.town, v.at, JSON.stringify(v)],
      ),
    get: async (id: string): Promise<Visit | undefined> =>
      (await db.all<{ body: string }>("SELECT body FROM field_visits WHERE id = ?", [id])).map((r) => JSON.parse(r.body) as Visit)[0],
    /** Visits, newest first, of these towns (all when undefined). */
    async list(q: { towns?: readonly string[] | undefined; limit: number }): Promise<Visit[]> {
      if (q.towns?.length === 0) return [];
      const where = q.towns ? `WHERE town IN (${q.towns.map(() => "?").join(", ")})` : "";
      const rows = await db.all<{ body: string }>(
        `SELECT body FROM field_visits ${where} ORDER BY visited_at DESC, id LIMIT ${Math.trunc(q.limit)}`,
        q.towns ? [...q.towns] : [],
      );
      return rows.map((r) => JSON.parse(r.body) as Visit);
    },
    /** `list()`'s visits (every one) as the text of one JSON array, made by the database for the report's worker thread
     * (`readBigText`): no row, nor the text, is made into a string on this thread. */
    async listText(towns?: readonly string[]): Promise<BigText> {
      if (towns?.length === 0) return { text: "[]" };
      const where = towns ? `WHERE town IN (${towns.map(() => "?").join(", ")})` : "";
      return bigText(
        db,
        `SELECT '[' || coalesce(string_agg(body, ',' ORDER BY visited_at DESC, id), '') || ']' AS json FROM field_visits ${where}`,
        towns ? [...towns] : [],
        "[]",
      );
    },
    putImage: (i: VisitImage, data: Buffer) =>
      db.run("INSERT INTO visit_images (id, visit_id, media_type, data, body) VALUES (?, ?, ?, ?, ?)", [
        i.id,
        i.visitId,
        i.mediaType,
        data.toString("base64"),
        JSON.stringify(i),
      ]),
    async image(visitId: string, id: string): Promise<{ meta: VisitImage; data: Buffer } | undefined> {
      const [row] = await db.all<{ data: string; body: string }>("SELECT data, body FROM visit_images WHERE visit_id = ? AND id = ?", [visitId, id]);
      return row ? { meta: JSON.parse(row.body) as VisitImage, data: Buffer.from(row.data, "base64") } : undefined;
    },
  };
}
export type VisitStore = ReturnType<typeof visitStore>;

/** Field visits: recorded at the claimed pole (the phone within AGRILUME_FIELD_CHECKIN_MAX_M of it). */
export function createVisits(deps: {
  store: VisitStore;
  clock: () => number;
  claim: (deviceId: string) => Promise<ClaimAt | undefined>;
  settings: { checkInMaxM: number; photoMaxBytes: number };
}) {
  const { store, clock, settings } = deps;
  return {
    get: (id: string) => store.get(id),
    list: (q: { towns?: readonly string[] | undefined; limit: number }) => store.list(q),
    async record(
      input: {
        deviceId: string;
        lat: number;
        lon: number;
        accuracyM?: number | undefined;
        foundAtPole: boolean;
        poleNumber?: string | undefined;
        controllerSerial?: string | undefined;
        lit?: boolean | undefined;
        statement?: string | undefined;
        at?: number | undefined;
      },
      inspector: string,
    ): Promise<Visit> {
      const c = await deps.claim(input.deviceId);
      if (!c) throw notFound("claim", input.deviceId);
      const now = clock();
      if (input.at !== undefined && input.at > now + 5 * 60_000) throw invalid(msg("time_in_future", { at: input.at }));
      const distanceM = Math.round(metres(input, c));
      if (distanceM > settings.checkInMaxM) throw invalid(msg("check_in_too_far", { distanceM, maxM: settings.checkInMaxM }));
      const serial = input.controllerSerial?.trim() || null;
      const v: Visit = {
        id: randomUUID(),
        deviceId: c.deviceId,
        town: c.town,
        village: c.village,
        inspector,
        at: input.at ?? now,
        receivedAt: now,
        lat: input.lat,
        lon: input.lon,
        accuracyM: input.accuracyM ?? null,
        distanceM,
        foundAtPole: input.foundAtPole,
        poleNumber: input.poleNumber?.trim() || null,
        controllerSerial: serial,
        serialMatches: serial === null ? null : serial.toUpperCase() === c.controllerSerial.toUpperCase(),
        lit: input.lit ?? null,
        statement: input.statement?.trim() || null,
        images: [],
      };
      await store.put(v);
      return v;
    },
    /** The visit's photo or the household's signature (an image), kept without its metadata. */
    async addImage(visitId: string, kind: "photo" | "signature", bytes: Buffer, read?: PhotoTakenInput): Promise<VisitImage> {
      const clean = takePhoto(bytes, settings.photoMaxBytes);
      const v = await store.get(visitId);
      if (!v) throw notFound("visit", visitId);
      if (v.images.length >= 10) throw invalid(msg("photo_too_many", { max: 10 }));
      const image: VisitImage = {
        id: randomUUID(),
        visitId,
        kind,
        mediaType: clean.mediaType,
        bytes: clean.data.length,
        at: clock(),
        ...taken(clean, read),
      };
      await store.putImage(image, clean.data);
      v.images.push(image);
      await store.put(v);
      return image;
    },
    image: (visitId: string, id: string) => store.image(visitId, id),
  };
}
export type Visits = ReturnType<typeof createVisits>;
