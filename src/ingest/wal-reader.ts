import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { jobModule, transfer, type WorkerPool } from "../platform/workers.js";
import { isRecord, type WalRecord } from "./wal.js";

/**
 * Reading the write-ahead log back in a worker thread, for the store writer when it has fallen behind (`wal.replay`
 * did it on the service's thread: the segment read whole, and every line parsed up to the one wanted, 0.66–1.0 s at a
 * stretch: docs/BENCHMARKS.md). The thread reads the segments as `wal.replay` does (named for their first record, in
 * order; a segment skipped when the next one starts at or before `after`; a line that does not parse skipped, a line
 * without its newline the end of that file) and hands back the wanted lines' own bytes, moved, not copied; the store
 * writer parses them a batch at a time (`LogLines.record`).
 */
export type LogLines = {
  /** The lines, each ending at `ends[k]` (exclusive; a newline follows it). */
  bytes: Uint8Array;
  ends: Uint32Array;
  count: number;
  /** The seq of the last line (0: none). */
  lastSeq: number;
  /** Whether the log holds more records after these (the limit was reached). */
  more: boolean;
  /** Segments with a line that did not parse, or that ended without a newline before the newest segment's end. */
  torn: string[];
};

const SEGMENT = /^(\d{16})\.wal$/; // as wal.ts names them

/** The job: up to `limit` records with seq > `after`, as the log's lines. */
export function readLog(input: { dir: string; after: number; limit: number }) {
  const { after, limit } = input;
  const segs = readdirSync(input.dir)
    .map((name) => SEGMENT.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ first: Number(m[1]), file: join(input.dir, m[0]) }))
    .sort((a, b) => a.first - b.first);
  const parts: { buf: Buffer; start: number; end: number }[] = [];
  const lineEnds: number[] = [];
  const torn: string[] = [];
  let bytes = 0;
  let lastSeq = 0;
  let more = false;
  scan: for (let i = 0; i < segs.length; i++) {
    const next = segs[i + 1];
    if (next && next.first - 1 <= after) continue; // wholly stored
    const seg = segs[i] as (typeof segs)[number];
    let buf: Buffer;
    try {
      buf = readFileSync(seg.file);
    } catch (e: unknown) {
      if ((e as { code?: string }).code === "ENOENT") continue; // released meanwhile: wholly stored
      throw e;
    }
    let start = 0;
    let runStart = -1; // a run of wanted lines, copied in one piece
    while (start < buf.length) {
      const end = buf.indexOf(0x0a, start);
      if (end === -1) {
        if (next) torn.push(seg.file); // at the newest segment's end: a write under way, not yet acknowledged
        break;
      }
      let seq: number | null = null;
      try {
        const r: unknown = JSON.parse(buf.toString("utf8", start, end));
        if (isRecord(r)) seq = r.seq; // (a whole line that is not a record is damage, skipped as `wal.replay` does)
      } catch {
        // not JSON: skipped below
      }
      if (seq === null && !torn.includes(seg.file)) torn.push(seg.file);
      if (seq !== null && seq > after) {
        if (lineEnds.length >= limit) {
          more = true;
          if (runStart >= 0) parts.push({ buf, start: runStart, end: start });
          break scan;
        }
        if (runStart < 0) runStart = start;
        bytes += end + 1 - start;
        lineEnds.push(bytes - 1);
        lastSeq = seq;
      } else if (runStart >= 0) {
        parts.push({ buf, start: runStart, end: start });
        runStart = -1;
      }
      start = end + 1;
    }
    if (runStart >= 0) parts.push({ buf, start: runStart, end: start });
  }
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const p of parts) {
    out.set(p.buf.subarray(p.start, p.end), at);
    at += p.end - p.start;
  }
  const ends = Uint32Array.from(lineEnds);
  const lines: LogLines = { bytes: out, ends, count: ends.length, lastSeq, more, torn };
  return transfer(lines, [out.buffer, ends.buffer]);
}

/** This module, whose job a thread runs (typed by the job itself: a type import of itself would be a cycle). */
const jobs = jobModule<{ readLog: typeof readLog }>(import.meta.url);

/** Reads the log in `dir` back in the pool's threads (never refused: the store writer reads once at a time). */
export function createLogReader(pool: WorkerPool, dir: string) {
  return (after: number, limit: number): Promise<LogLines> => pool.run(jobs, "readLog", { dir, after, limit }, { urgent: true });
}

/** The records of `lines`, parsed when asked for, in order. */
export function lineRecords(lines: LogLines) {
  const text = Buffer.from(lines.bytes.buffer, lines.bytes.byteOffset, lines.bytes.byteLength);
  let k = 0;
  return {
    left: () => lines.count - k,
    next: (): WalRecord => {
      const start = k === 0 ? 0 : (lines.ends[k - 1] ?? 0) + 1;
      return JSON.parse(text.toString("utf8", start, lines.ends[k++])) as WalRecord;
    },
  };
}
