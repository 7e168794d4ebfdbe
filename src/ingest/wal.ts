import { closeSync, constants, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import type { StoredReading } from "../storage/telemetry-store.js";
import type { RejectRecord } from "./rejects.js";

/**
 * The write-ahead log: what makes an acknowledged message durable.
 *
 * A QoS 1 PUBACK is sent only after the message's record is in this log and the log is
 * fsynced. Appends that arrive together share one synchronous write (group commit: the file is opened O_DSYNC, so
 * the write returns once the data is on disk, as a write and an fdatasync would), so
 * the cost of durability is per batch, not per message. The stores are written from the log
 * asynchronously and record the highest sequence they hold; on start, everything after that
 * is replayed, and the stores ignore what they already have, so each reading lands once.
 *
 * Files: `<dataDir>/wal/<first seq, 16 digits>.wal`, one JSON record per line. A segment is
 * deleted once every store holds all of it. A torn last line (no newline after it: a crash or a
 * failed write, so never acknowledged) is skipped on replay. Any other line that is not a record is
 * damage to what may have been acknowledged: it is reported as corrupt, with where it is, and
 * skipped; the records after it are replayed.
 *
 * The spool (`unstoredBytes`) is what no store holds yet, not the files' size: the current segment
 * stays on disk after the stores have caught up, and a bound below a segment's size must not refuse
 * ingest for good.
 */
export type WalEntry = { kind: "reading"; reading: Omit<StoredReading, "seq"> } | { kind: "reject"; reject: Omit<RejectRecord, "seq"> };
export type WalRecord = WalEntry & { seq: number };

/** Called once the batch holding an append is on disk (or could not be written). */
type Waiter = (error: unknown) => void;
/** The write buffer starts at this size (it grows for a larger batch, and is reused). */
const BUFFER_BYTES = 1 << 20;
/**
 * A flush starts at the end of the event loop's turn, or as soon as this much is waiting, whichever is first: under
 * load one turn reads hundreds of connections, and their messages would otherwise all wait for its end, and then for
 * the disk, before the first of them is acknowledged (docs/BENCHMARKS.md).
 */
const EARLY_FLUSH_BYTES = 256 * 1024;
/** Where the platform has it (Linux, macOS). */
const DSYNC: number | undefined = constants.O_DSYNC;
/** What was written is kept in memory, up to this much, until every store holds it (`lines`). */
const KEEP_BYTES = 64 * 1024 * 1024;

export type Wal = Awaited<ReturnType<typeof openWal>>;

/** JSON with every character past ASCII escaped: a line all of whose characters are one byte is half the memory. */
const asciiJson = (v: unknown) => JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
/**
 * The start of a device's reading lines, up to the value of `ts`, per tags object (the pipeline makes one per device
 * record), for the measurement it last sent. Every character past ASCII is escaped, so it is written byte for byte.
 */
const heads = new WeakMap<object, { measurement: string; deviceId: string; head: Buffer }>();
/** (as bytes: copied into the write buffer, not encoded from a string for every reading) */
function readingHead(r: Extract<WalEntry, { kind: "reading" }>["reading"]): Buffer {
  let h = heads.get(r.tags);
  if (h === undefined || h.measurement !== r.measurement || h.deviceId !== r.deviceId) {
    const head = `{"kind":"reading","reading":{"measurement":${asciiJson(r.measurement)},"deviceId":${asciiJson(r.deviceId)},"tags":${asciiJson(r.tags)},"ts":`;
    h = { measurement: r.measurement, deviceId: r.deviceId, head: Buffer.from(head, "latin1") };
    heads.set(r.tags, h);
  }
  return h.head;
}
const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
// The fixed parts of a reading's line after the head, as bytes.
const RECEIVED_AT = Buffer.from(',"receivedAt":');
const PAYLOAD = Buffer.from(',"payload":');
const SEQ = Buffer.from('},"seq":');

const SEGMENT_NAME = /^(\d{16})\.wal$/;
/**
 * The spool follows the stores a stretch of the log at a time: write batches run together until a stretch is this
 * long (a segment an earlier start wrote is one stretch), so it counts up to about one stretch more than the stores
 * lack, never less.
 */
const STRETCH_BYTES = 64 * 1024;

/** Where a line of the log is: its segment's file, its first byte's offset and its number (from 1). */
export type WalLocation = { file: string; offset: number; line: number };

/** A parsed line that is a record (anything else on a whole line is damage). */
export const isRecord = (r: unknown): r is WalRecord =>
  typeof r === "object" &&
  r !== null &&
  ((r as { kind?: unknown }).kind === "reading" || (r as { kind?: unknown }).kind === "reject") &&
  Number.isSafeInteger((r as { seq?: unknown }).seq);

/** The byte offset of line `line` (from 1): counted only for a report. */
function lineOffset(bytes: Buffer, line: number): number {
  let offset = 0;
  for (let n = 1; n < line; n++) offset = bytes.indexOf(0x0a, offset) + 1;
  return offset;
}

export async function openWal(
  dir: string,
  opts: {
    segmentBytes?: number;
    /** An incomplete last line in a segment (a crash or a failed write): never acknowledged. */
    onTornRecord?: (file: string, where: WalLocation) => void;
    /** A line that is not a record, with a newline after it: damage to what may have been acknowledged. Skipped. */
    onCorruptRecord?: (where: WalLocation & { bytes: number }) => void;
    /** Seqs at or below this are taken (the stores' checkpoints). */
    floorSeq?: number;
    /** What a `write` callback threw (a bug in its caller; the record itself is on disk). */
    onCallbackError?: (error: unknown) => void;
    /**
     * Keep what was written in memory for `lines` (default true). Off when no store reads the log's lines: the kept
     * batches held the write buffers, so every flush took a new one that grew again by doubling copies (2 % of the
     * service's thread in a profile of the ingest pass, and up to 64 MB held: docs/BENCHMARKS.md).
     */
    keepLines?: boolean;
  } = {},
) {
  const segmentBytes = opts.segmentBytes ?? 64 * 1024 * 1024;
  const keepLines = opts.keepLines ?? true;
  mkdirSync(dir, { recursive: true });

  // The segments, oldest first, read from the directory once; afterwards this list is the log's own record of them
  // (release runs after every store batch, and must not list and stat the directory each time).
  const segs: { first: number; file: string; bytes: number }[] = readdirSync(dir)
    .map((name) => SEGMENT_NAME.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ first: Number(m[1]), file: join(dir, m[0]), bytes: statSync(join(dir, m[0])).size }))
    .sort((a, b) => a.first - b.first);

  /** Lines already reported, `file:line`: a segment may be read more than once (a replay beyond the writer's queue). */
  const reported = new Set<string>();
  function* readSegment(file: string, report = true): Generator<WalRecord> {
    const bytes = readFileSync(file);
    const text = bytes.toString("utf8"); // (a byte that is not UTF-8 never hides or makes a newline)
    let start = 0;
    let lineNo = 0;
    while (start < text.length) {
      lineNo++;
      const end = text.indexOf("\n", start);
      if (end === -1) {
        // No newline: a write that never completed (a crash, or a failed write after which the log went on in a new
        // segment), so it was never acknowledged.
        if (report && !reported.has(`${file}:${lineNo}`)) {
          reported.add(`${file}:${lineNo}`);
          opts.onTornRecord?.(file, { file, offset: lineOffset(bytes, lineNo), line: lineNo });
        }
        return;
      }
      const line = text.slice(start, end);
      start = end + 1;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        record = undefined;
      }
      if (isRecord(record)) yield record;
      else if (report && !reported.has(`${file}:${lineNo}`)) {
        // A whole line, newline and all, that is not a record: a partial write never ends with one, so this is damage,
        // and the record may have been acknowledged. The lines after it are records of their own: they are replayed.
        reported.add(`${file}:${lineNo}`);
        const offset = lineOffset(bytes, lineNo);
        opts.onCorruptRecord?.({ file, offset, line: lineNo, bytes: lineOffset(bytes, lineNo + 1) - offset - 1 });
      }
    }
  }

  let lastSeq = 0;
  const tail = segs.at(-1);
  if (tail) {
    lastSeq = tail.first - 1;
    for (const r of readSegment(tail.file, false)) lastSeq = Math.max(lastSeq, r.seq);
  }

  /**
   * The spool: positions in the log are bytes from the start of the oldest segment listed at open. `marks` are
   * stretches of it in order (one per segment from before this start, then write batches run together up to
   * STRETCH_BYTES), each with the last seq in it; `release` moves `storedAt` to the end of the last stretch every store
   * holds all of, so `writtenAt - storedAt` is what no store holds yet, give or take the stretch being stored.
   */
  const marks: { last: number; start: number; end: number }[] = [];
  let markHead = 0;
  let writtenAt = 0;
  let storedAt = 0;
  for (const [i, seg] of segs.entries()) {
    const next = segs[i + 1];
    if (seg.bytes > 0) marks.push({ last: next ? next.first - 1 : lastSeq, start: writtenAt, end: writtenAt + seg.bytes });
    writtenAt += seg.bytes;
  }
  /** Where this start's writes begin: a stretch from before it is not run on into them. */
  const openedAt = writtenAt;

  // If the log was removed by hand, sequence numbers must still not go back below what the stores hold.
  let nextSeq = Math.max(lastSeq, opts.floorSeq ?? 0) + 1;
  // Appends are encoded into a buffer as they arrive (the line string then dies young instead of waiting, with
  // every other line of the batch, through garbage collections: docs/BENCHMARKS.md); a flush writes the buffer.
  let out: Buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  let used = 0;
  let spare: Buffer | null = null;
  let waiters: Waiter[] = [];
  /** The batches written since the stores last caught up, as written: records first..last, in order. */
  const kept: { first: number; last: number; bytes: Buffer }[] = [];
  let keptBytes = 0;
  /** The seq of the first record in `out`, if any. */
  let firstWaiting: number | null = null;
  const room = (bytes: number) => {
    if (used + bytes > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, used + bytes));
      out.copy(bigger, 0, 0, used);
      out = bigger;
    }
  };
  const put = (line: string) => {
    room(line.length * 3 + 1); // UTF-16 code unit → at most 3 bytes of UTF-8
    used += out.write(line, used, "utf8");
    out[used++] = 0x0a;
  };
  const putBytes = (bytes: Uint8Array) => {
    out.set(bytes, used);
    used += bytes.byteLength;
  };
  /** Writes a whole number's digits (a safe, non-negative integer). */
  const putCount = (n: number) => {
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    let i = used + digits;
    do {
      out[--i] = 48 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
    used += digits;
  };
  /**
   * A reading's line with the payload's own bytes (`payload`: valid UTF-8 JSON, one line, exactly the payload): the
   * record JSON.stringify would write, read back, without making the line as a string or formatting the payload again.
   */
  const putReading = (seq: number, r: Extract<WalEntry, { kind: "reading" }>["reading"], payload: Uint8Array): boolean => {
    if (!isCount(r.ts) || !isCount(r.receivedAt)) return false;
    const head = readingHead(r);
    room(head.byteLength + payload.byteLength + 3 * 16 + 40); // three numbers of at most 16 digits, the fixed parts
    putBytes(head);
    putCount(r.ts);
    putBytes(RECEIVED_AT);
    putCount(r.receivedAt);
    putBytes(PAYLOAD);
    putBytes(payload);
    putBytes(SEQ);
    putCount(seq);
    out[used++] = 0x7d; // }
    out[used++] = 0x0a;
    return true;
  };
  let fh: FileHandle;
  let current: { first: number; file: string; bytes: number };
  // Always start a new segment: never append after a possibly torn line.
  // A segment is named for the first record it holds: the oldest one still waiting, if any.
  const roll = async () => {
    const first = firstWaiting ?? nextSeq;
    const file = join(dir, `${String(first).padStart(16, "0")}.wal`);
    // O_DSYNC: a write returns once its data is on disk, as a write and an fdatasync would, in one trip to the thread
    // pool instead of two (each trip waits for the event loop, which under load is long: docs/BENCHMARKS.md).
    fh = await open(file, DSYNC === undefined ? "a" : constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | DSYNC);
    // an empty segment left by an earlier start has this very name: it is reused, not listed twice
    const last = segs.at(-1);
    if (last?.first === first) current = last;
    else {
      current = { first, file, bytes: 0 };
      segs.push(current);
    }
    const dfd = openSync(dir, "r"); // make the new file's name durable too
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  };
  await roll();

  let flushing: Promise<void> | null = null;
  let closed = false;

  const flushLoop = async () => {
    while (waiters.length > 0) {
      const batch = waiters;
      const buffer = out;
      const bytes = out.subarray(0, used);
      const first = firstWaiting ?? nextSeq;
      const last = nextSeq - 1;
      waiters = [];
      firstWaiting = null;
      out = spare ?? Buffer.allocUnsafe(BUFFER_BYTES);
      spare = null;
      used = 0;
      let failed: unknown;
      let reuse = true;
      try {
        for (let off = 0; off < bytes.length; ) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
        if (DSYNC === undefined) await fh.datasync(); // (a platform without O_DSYNC)
        current.bytes += bytes.length;
        const stretch = marks.length > markHead ? marks[marks.length - 1] : undefined;
        if (stretch && stretch.start >= openedAt && stretch.end - stretch.start < STRETCH_BYTES) {
          stretch.last = last;
          stretch.end += bytes.length;
        } else marks.push({ last, start: writtenAt, end: writtenAt + bytes.length });
        writtenAt += bytes.length;
        if (keepLines) {
          // Kept for the stores (`lines`): a copy when it fills less than half its buffer, which is then reused.
          const keep = bytes.length * 2 < buffer.length ? Buffer.from(bytes) : bytes;
          if (keep === bytes) reuse = false;
          kept.push({ first, last, bytes: keep });
          keptBytes += keep.length;
          while (keptBytes > KEEP_BYTES) keptBytes -= kept.shift()?.bytes.length ?? keptBytes;
        }
      } catch (e: unknown) {
        failed = e ?? new Error("write-ahead log write failed");
      }
      // Each waiter hears once; what one of them throws is its own failure, not the log's, and does not stop the others.
      for (const w of batch) {
        try {
          w(failed);
        } catch (e: unknown) {
          opts.onCallbackError?.(e);
        }
      }
      if (reuse && buffer.length <= 16 * BUFFER_BYTES) spare = buffer;
      // A failed write may have left a torn line: what follows goes to a new segment.
      if (failed !== undefined || current.bytes >= segmentBytes) {
        await fh.close().catch(() => undefined);
        // If even that fails (the disk is gone), the next flush's write fails on the closed handle and tries again.
        await roll().catch(() => undefined);
      }
    }
  };

  // One flush at a time; an append that arrives as a flush ends is picked up by the next one.
  /** Starts the flush that is waiting for the event loop's turn, if any, now. */
  let startNow: (() => void) | null = null;
  const schedule = () => {
    if (flushing) {
      if (startNow && used >= EARLY_FLUSH_BYTES) {
        startNow();
        startNow = null;
      }
      return;
    }
    flushing = new Promise<void>((r) => {
      startNow = r;
      setImmediate(r);
    })
      .then(() => {
        startNow = null;
        return flushLoop();
      })
      .finally(() => {
        flushing = null;
        if (waiters.length > 0) schedule();
      });
  };

  /**
   * Adds a record to the next write and returns it (its seq orders it among all records); `done` is called once it is
   * on disk, with undefined, or with the error that kept it off (then the record, seq 0 if the log was closed, is not
   * the log's). `payload`, for a reading, is its payload's own bytes when they are exactly the payload's JSON, valid
   * UTF-8 and on one line (decodePayload says when: `ownJson`).
   */
  function write(entry: WalEntry, payload: Uint8Array | undefined, done: Waiter): WalRecord {
    if (closed) {
      const error = new Error("write-ahead log is closed");
      queueMicrotask(() => done(error));
      return { ...entry, seq: 0 } as WalRecord;
    }
    const record: WalRecord =
      entry.kind === "reading"
        ? { kind: "reading", reading: entry.reading, seq: nextSeq++ }
        : { kind: "reject", reject: entry.reject, seq: nextSeq++ };
    if (!(payload !== undefined && entry.kind === "reading" && putReading(record.seq, entry.reading, payload))) put(JSON.stringify(record));
    firstWaiting ??= record.seq;
    waiters.push(done);
    schedule();
    return record;
  }

  return {
    write,
    /** `write`, as a promise of the record once it is on disk. */
    append(entry: WalEntry, payload?: Uint8Array): Promise<WalRecord> {
      return new Promise<WalRecord>((resolve, reject) => {
        const record = write(entry, payload, (error) => (error === undefined ? resolve(record) : reject(error)));
      });
    },
    /** Every record with seq > after, in order, in chunks. */
    *replay(after: number): Generator<WalRecord> {
      const list = [...segs];
      for (let i = 0; i < list.length; i++) {
        const next = list[i + 1];
        if (next && next.first - 1 <= after) continue; // wholly stored
        const seg = list[i];
        if (!seg) continue;
        for (const r of readSegment(seg.file)) if (r.seq > after) yield r;
      }
    },
    /**
     * The JSON lines of records `from`..`to` as they were written, if they are all still in memory (written since the
     * stores caught up, not more than KEEP_BYTES ago); else null. It may hold records either side of the range too.
     * A store can take a batch from these bytes instead of serialising every record again; they are the log's own, to
     * read and not to change.
     */
    lines(from: number, to: number): Uint8Array | null {
      const i = kept.findIndex((k) => k.last >= from);
      if (i < 0 || (kept[i]?.first ?? from + 1) > from) return null;
      const parts: Buffer[] = [];
      for (let j = i; j < kept.length; j++) {
        const k = kept[j] as (typeof kept)[number];
        if (j > i && k.first !== (kept[j - 1]?.last ?? 0) + 1) return null; // a batch that failed to write is not kept
        parts.push(k.bytes);
        if (k.last >= to) return parts.length === 1 ? k.bytes : Buffer.concat(parts);
      }
      return null;
    },
    /** Every store holds the records at or below `stored`: deletes segments that hold no others, and counts them out of the spool. */
    release(stored: number): number {
      while (kept[0] && kept[0].last <= stored) keptBytes -= kept.shift()?.bytes.length ?? 0;
      for (let m = marks[markHead]; m !== undefined && m.last <= stored; m = marks[markHead]) {
        storedAt = m.end;
        markHead++;
      }
      if (markHead >= 1024 && markHead * 2 >= marks.length) {
        marks.splice(0, markHead);
        markHead = 0;
      }
      let removed = 0;
      // segments are in order: drop from the front while the next one starts at or below `stored` + 1
      while (segs.length > 1 && segs[0] !== current && (segs[1]?.first ?? Number.POSITIVE_INFINITY) - 1 <= stored) {
        const seg = segs.shift();
        if (seg) unlinkSync(seg.file);
        removed++;
      }
      return removed;
    },
    lastSeq: () => nextSeq - 1,
    /**
     * The spool: bytes of accepted records not yet in every store (as `release` last heard), counted a stretch of the
     * log at a time (STRETCH_BYTES), so over by up to about one stretch, never under. Cheap: the pipeline asks for every
     * message.
     */
    unstoredBytes: () => writtenAt - storedAt,
    /** Bytes on disk: every segment not yet deleted, the current one whole even once every store holds it. */
    bytes: () => segs.reduce((sum, seg) => sum + seg.bytes, 0),
    async close() {
      closed = true;
      while (flushing) await flushing;
      await fh.close();
    },
  };
}
