/**
 * Entries a technician or an inspector makes on the phone, kept in IndexedDB until the service has them: each gets its
 * `Idempotency-Key` when it is made, so a resend (after a lost answer, a reload, the signal coming back) is done
 * once by the service, which answers a repeated key with its first answer. Sent one at a time, in the order made.
 * An entry can wait for another's answer: a visit's photo and signature name the visit the service numbers when it
 * gets the visit (`after`, and `{id}` in the path, filled from that answer's `id`).
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, type Client } from "./api";

export type Entry = {
  /** The Idempotency-Key, made with the entry. */
  key: string;
  /** Order made (IndexedDB's own counter). */
  seq?: number;
  /** Who made it: sent only in their session (a shared phone, another user signed in, keeps it for them). */
  user: string;
  /** The record it belongs to (a work order's id; `visit:` and the claim's device id for a visit). */
  orderId: string;
  /** What it is (for the page): a move's target state, `check_in`, `photo`, `done`; `visit`, `signature`. */
  kind: string;
  /** Where it goes; `{id}` is filled from the answer to the entry `after` names. */
  path: string;
  /** The key of an entry made before this one whose answer's `id` fills `{id}` in the path. */
  after?: string;
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

/** Keeps an entry (its key made now, and handed back for entries that wait for its answer); the caller then asks for a flush. */
export async function keep(entry: Omit<Entry, "key" | "madeAt" | "seq">): Promise<string> {
  const key = crypto.randomUUID();
  await tx("readwrite", (s) => s.add({ ...entry, key, madeAt: Date.now() }));
  changed();
  return key;
}

/** The entries waiting for `e`'s answer: given the id it answered with, or (refused) dropped with it. */
async function settleAfter(user: string, e: Entry, id: string | null, refused: (r: Refused) => void, message: string, code: string) {
  for (const d of (await waiting(user)).filter((x) => x.after === e.key)) {
    if (id === null) {
      refused({ orderId: d.orderId, kind: d.kind, message, code });
      await tx("readwrite", (s) => s.delete(d.seq as number));
    } else {
      const { after: _, ...rest } = d;
      await tx("readwrite", (s) => s.put({ ...rest, path: rest.path.replaceAll("{id}", encodeURIComponent(id)) }));
    }
  }
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
        if (e.after) return; // (its first entry is gone without an answer: cannot happen, as each is settled with it)
        try {
          const headers = { "idempotency-key": e.key };
          const answer = e.photo
            ? await client.postText<unknown>(e.path, e.photo, e.photo.type || "image/jpeg", headers)
            : await client.post<unknown>(e.path, e.json ?? {}, headers);
          const id = (answer as { id?: unknown } | null)?.id;
          // (the waiting entries learn the id before this one goes: a crash between resends it, and the key answers the same)
          await settleAfter(user, e, typeof id === "string" ? id : null, refused, "", "no_id");
        } catch (err) {
          if (!(err instanceof ApiError) || err.status === 0 || err.status === 401 || err.status >= 500) return; // kept
          refused({ orderId: e.orderId, kind: e.kind, message: err.message, code: err.code });
          await settleAfter(user, e, null, refused, err.message, err.code);
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

/**
 * A page's outbox on this phone, for `user`: the entries waiting, those the service refused, whether the phone has
 * signal, and `send`, which sends what waits: when the page opens (what an earlier visit kept), when the signal comes
 * back, and every 30 s (a phone's `online` event is not always told of a signal that comes back). `sent` is told after
 * each sending, to reload what the page shows.
 */
export function useOutbox(client: Client, user: string, sent: () => void) {
  const [kept, setKept] = useState<Entry[]>([]);
  const [refused, setRefused] = useState<Refused[]>([]);
  const [online, setOnline] = useState(navigator.onLine);
  const send = () => flush(client, user, (r) => setRefused((rs) => [...rs, r])).finally(sent);
  useEffect(() => {
    const read = () => void waiting(user).then(setKept);
    read();
    const off = onOutbox(read);
    const up = () => {
      setOnline(true);
      void send();
    };
    const down = () => setOnline(false);
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    void send();
    const timer = setInterval(() => {
      if (navigator.onLine) void send();
    }, 30_000);
    return () => {
      off();
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
      clearInterval(timer);
    };
  }, [client]);
  return { kept, refused, setRefused, online, send };
}
