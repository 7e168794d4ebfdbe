/**
 * Entries a technician makes on the phone, kept in IndexedDB until the service has them: each gets its
 * `Idempotency-Key` when it is made, so a resend (after a lost answer, a reload, the signal coming back) is done
 * once by the service, which answers a repeated key with its first answer. Sent one at a time, in the order made.
 */
import { ApiError, type Client } from "./api";

export type Entry = {
  /** The Idempotency-Key, made with the entry. */
  key: string;
  /** Order made (IndexedDB's own counter). */
  seq?: number;
  /** Who made it: sent only in their session (a shared phone, another user signed in, keeps it for them). */
  user: string;
  orderId: string;
  /** What it is (for the page): a move's target state, `check_in`, `photo`, `done`. */
  kind: string;
  path: string;
  json?: unknown;
  photo?: Blob;
  madeAt: number;
};
export type Refused = { orderId: string; kind: string; message: string; code: string };

const DB = "agrilume-outbox";
const STORE = "entries";
let opened: Promise<IDBDatabase> | null = null;
function db(): Promise<IDBDatabase> {
  opened ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return opened;
}
async function tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const d = await db();
  return new Promise((resolve, reject) => {
    const req = fn(d.transaction(STORE, mode).objectStore(STORE));
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

const listeners = new Set<() => void>();
const changed = () => {
  for (const l of listeners) l();
};
/** Called when the outbox changes (an entry kept, sent or refused). */
export function onOutbox(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Every entry of this user still waiting, oldest first. */
export const waiting = async (user: string): Promise<Entry[]> =>
  (await tx("readonly", (s) => s.getAll() as IDBRequest<Entry[]>)).filter((e) => e.user === user);

/** Keeps an entry (its key made now); the caller then asks for a flush. */
export async function keep(entry: Omit<Entry, "key" | "madeAt" | "seq">): Promise<void> {
  await tx("readwrite", (s) => s.add({ ...entry, key: crypto.randomUUID(), madeAt: Date.now() }));
  changed();
}

let flushing: Promise<void> | null = null;
/**
 * Sends what waits, in order. No network: stops, everything kept for the next try. The service refusing an entry
 * (a check-in too far, a move the order's state no longer allows): dropped, and the service's message handed to
 * `refused` (sending it again would be refused again).
 */
export function flush(client: Client, user: string, refused: (r: Refused) => void): Promise<void> {
  flushing ??= (async () => {
    try {
      // (read again after each: an entry made while sending joins the end of the line)
      for (let [e] = await waiting(user); e; [e] = await waiting(user)) {
        try {
          const headers = { "idempotency-key": e.key };
          if (e.photo) await client.postText(e.path, e.photo, e.photo.type || "image/jpeg", headers);
          else await client.post(e.path, e.json ?? {}, headers);
        } catch (err) {
          if (!(err instanceof ApiError) || err.status === 0 || err.status === 401 || err.status >= 500) return; // kept
          refused({ orderId: e.orderId, kind: e.kind, message: err.message, code: err.code });
        }
        await tx("readwrite", (s) => s.delete(e.seq as number));
        changed();
      }
    } finally {
      flushing = null;
    }
  })();
  return flushing;
}

/** A photo from the camera made small on the phone: at most `max` px on its long side, as JPEG. */
export async function shrink(file: Blob, max = 1600): Promise<Blob> {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, max / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext("2d")?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("canvas"))), "image/jpeg", 0.85));
}
