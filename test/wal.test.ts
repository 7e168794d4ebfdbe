import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startTestApp } from "../harness/helpers.js";
import { openWal, type WalEntry, type WalLocation } from "../src/ingest/wal.js";
import { tempDirPerTest } from "./dirs.js";

const entry = (i: number): WalEntry => ({
  kind: "reading",
  reading: { measurement: "streetlight_telemetry", deviceId: "L1", ts: i, receivedAt: i, tags: {}, payload: { i } },
});

describe("write-ahead log", () => {
  const dir = tempDirPerTest();

  it("numbers records in order and replays them after a reopen", async () => {
    const path = dir();
    const wal = await openWal(path);
    const records = await Promise.all([1, 2, 3].map((i) => wal.append(entry(i))));
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
    await wal.close();
    const again = await openWal(path);
    expect([...again.replay(1)].map((r) => r.seq)).toEqual([2, 3]);
    expect((await again.append(entry(4))).seq).toBe(4);
    await again.close();
  });

  it("skips a torn last line, which was never acknowledged", async () => {
    const path = dir();
    const wal = await openWal(path);
    await wal.append(entry(1));
    await wal.close();
    const file = readdirSync(path).find((f) => f.endsWith(".wal"));
    const firstLine = statSync(join(path, file ?? "")).size;
    appendFileSync(join(path, file ?? ""), '{"kind":"reading","seq":2,"read');
    const torn: string[] = [];
    const where: WalLocation[] = [];
    const corrupt: WalLocation[] = [];
    const again = await openWal(path, {
      onTornRecord: (f, w) => {
        torn.push(f);
        where.push(w);
      },
      onCorruptRecord: (w) => corrupt.push(w),
    });
    expect([...again.replay(0)].map((r) => r.seq)).toEqual([1]);
    expect(torn).toHaveLength(1);
    expect(where).toEqual([{ file: join(path, file ?? ""), offset: firstLine, line: 2 }]);
    expect(corrupt).toEqual([]);
    await again.close();
  });

  it("still calls a torn line torn once a restart has moved the log on to a new segment", async () => {
    const path = dir();
    const wal = await openWal(path);
    await wal.append(entry(1));
    await wal.close();
    const [file] = readdirSync(path);
    appendFileSync(join(path, file ?? ""), '{"kind":"reading","seq":2,"read'); // the crash
    const restarted = await openWal(path); // a new segment: the torn one is no longer the last
    await restarted.append(entry(3));
    await restarted.close();
    const torn: string[] = [];
    const corrupt: WalLocation[] = [];
    const again = await openWal(path, { onTornRecord: (f) => torn.push(f), onCorruptRecord: (w) => corrupt.push(w) });
    expect(readdirSync(path)).toHaveLength(3);
    expect([...again.replay(0)].map((r) => r.seq)).toEqual([1, 2]); // (seq 2 was never the log's: it is taken again)
    expect(torn).toEqual([join(path, file ?? "")]);
    expect(corrupt).toEqual([]);
    await again.close();
  });

  it("reports a damaged line in the middle as corrupt, with where it is, once, and replays the records after it", async () => {
    const path = dir();
    const wal = await openWal(path);
    for (let i = 1; i <= 5; i++) await wal.append(entry(i));
    await wal.close();
    const [name] = readdirSync(path);
    const file = join(path, name ?? "");
    const lines = readFileSync(file, "utf8").split("\n");
    // line 2 cut short (a damaged block; its newline kept), line 4 valid JSON but no record
    writeFileSync(file, [lines[0], lines[1]?.slice(0, 30), lines[2], "{}", ...lines.slice(4)].join("\n"));
    const torn: string[] = [];
    const corrupt: (WalLocation & { bytes: number })[] = [];
    const again = await openWal(path, { onTornRecord: (f) => torn.push(f), onCorruptRecord: (w) => corrupt.push(w) });
    expect([...again.replay(0)].map((r) => r.seq)).toEqual([1, 3, 5]);
    const offset2 = Buffer.byteLength(`${lines[0]}\n`);
    const offset4 = offset2 + 31 + Buffer.byteLength(`${lines[2]}\n`);
    expect(corrupt).toEqual([
      { file, line: 2, offset: offset2, bytes: 30 },
      { file, line: 4, offset: offset4, bytes: 2 },
    ]);
    expect(
      readFileSync(file)
        .subarray(offset4, offset4 + 3)
        .toString(),
    ).toBe("{}\n");
    expect([...again.replay(0)].map((r) => r.seq)).toEqual([1, 3, 5]); // read again (a replay past the writer's queue)
    expect(corrupt).toHaveLength(2); // reported once
    expect(torn).toEqual([]);
    await again.close();
  });

  it("reports a damaged last line of a segment as corrupt, not torn, when its newline is there", async () => {
    const path = dir();
    const wal = await openWal(path, { segmentBytes: 400 });
    for (let i = 1; i <= 12; i++) await wal.append(entry(i));
    await wal.close();
    const names = readdirSync(path).sort();
    expect(names.length).toBeGreaterThan(2);
    const first = join(path, names[0] ?? "");
    const lines = readFileSync(first, "utf8").split("\n"); // [...records, ""]
    const lastLine = lines.length - 1; // its number (from 1)
    writeFileSync(first, [...lines.slice(0, -2), `${lines.at(-2)?.slice(0, 12)}\u0000\u0000`, ""].join("\n"));
    const last = join(path, names.at(-1) ?? "");
    appendFileSync(last, "\u0000\u0000\u0000\n"); // and the last line of the last segment
    const torn: string[] = [];
    const corrupt: WalLocation[] = [];
    const again = await openWal(path, { onTornRecord: (f) => torn.push(f), onCorruptRecord: (w) => corrupt.push(w) });
    const replayed = [...again.replay(0)].map((r) => r.seq);
    expect(replayed).toHaveLength(11);
    expect(replayed).toEqual(Array.from({ length: 12 }, (_, i) => i + 1).filter((s) => s !== lastLine));
    expect(corrupt.map((c) => [c.file, c.line])).toEqual([
      [first, lastLine],
      [last, readFileSync(last, "utf8").split("\n").length - 1],
    ]);
    expect(torn).toEqual([]);
    await again.close();
  });

  it("in the service: a corrupt record is counted in /metrics, and the records after it are stored", async () => {
    const dataDir = dir();
    const wal = await openWal(join(dataDir, "wal"));
    for (let i = 1; i <= 3; i++) await wal.append(entry(i));
    await wal.close();
    const [name] = readdirSync(join(dataDir, "wal"));
    const file = join(dataDir, "wal", name ?? "");
    const lines = readFileSync(file, "utf8").split("\n");
    writeFileSync(file, [lines[0], lines[1]?.slice(0, 30), ...lines.slice(2)].join("\n"));
    const t = await startTestApp({}, dataDir);
    try {
      expect(await t.app.telemetry.count({ deviceId: "L1" })).toBe(2);
      expect(await (await t.api("/metrics")).text()).toMatch(/^agrilume_wal_corrupt_records_total 1$/m);
    } finally {
      await t.stop();
    }
  });

  it("rolls segments and deletes only those wholly stored", async () => {
    const path = dir();
    const wal = await openWal(path, { segmentBytes: 400 });
    for (let i = 1; i <= 20; i++) await wal.append(entry(i));
    const before = readdirSync(path).length;
    expect(before).toBeGreaterThan(3);
    wal.release(10);
    expect([...wal.replay(10)].map((r) => r.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 11));
    expect(readdirSync(path).length).toBeLessThan(before);
    wal.release(20);
    expect([...wal.replay(0)].every((r) => r.seq > 10)).toBe(true);
    await wal.close();
  });

  it("counts in the spool what no store holds yet, not the files: the current segment stays on disk once all of it is stored", async () => {
    const path = dir();
    const wal = await openWal(path);
    for (let i = 1; i <= 10; i++) await wal.append(entry(i));
    const [name] = readdirSync(path);
    expect(wal.bytes()).toBe(statSync(join(path, name ?? "")).size);
    expect(wal.unstoredBytes()).toBe(wal.bytes());
    wal.release(10);
    expect(wal.unstoredBytes()).toBe(0);
    expect(readdirSync(path)).toEqual([name]);
    const onDisk = wal.bytes();
    expect(onDisk).toBe(statSync(join(path, name ?? "")).size);
    await wal.append(entry(11));
    expect(wal.unstoredBytes()).toBe(wal.bytes() - onDisk);
    expect(wal.unstoredBytes()).toBeGreaterThan(0);
    await wal.close();
  });

  it("follows the stores through the log a stretch at a time: over by less than 64 KiB, never under", async () => {
    const wal = await openWal(dir());
    const ends: number[] = []; // the log's size after each record
    for (let i = 1; i <= 40; i++) {
      const reading = {
        measurement: "streetlight_telemetry",
        deviceId: "L1",
        ts: i,
        receivedAt: i,
        tags: {},
        payload: { i, pad: "x".repeat(10_000) },
      };
      await wal.append({ kind: "reading", reading });
      ends.push(wal.bytes());
    }
    for (const stored of [0, 7, 13, 26, 39, 40]) {
      wal.release(stored);
      const exact = wal.bytes() - (ends[stored - 1] ?? 0);
      expect(wal.unstoredBytes(), `stored ${stored}`).toBeGreaterThanOrEqual(exact);
      expect(wal.unstoredBytes(), `stored ${stored}`).toBeLessThan(exact + 64 * 1024);
    }
    expect(wal.unstoredBytes()).toBe(0);
    await wal.close();
  });

  it("counts what an earlier start wrote until the stores are known to hold it", async () => {
    const path = dir();
    const wal = await openWal(path);
    for (let i = 1; i <= 5; i++) await wal.append(entry(i));
    await wal.close();
    const again = await openWal(path);
    expect(again.unstoredBytes()).toBe(again.bytes());
    expect(again.unstoredBytes()).toBeGreaterThan(0);
    await again.append(entry(6));
    again.release(4);
    expect(again.unstoredBytes()).toBe(again.bytes()); // the earlier segment is counted whole until all of it is stored
    again.release(5);
    expect(readdirSync(path)).toHaveLength(1); // deleted
    expect(again.unstoredBytes()).toBe(again.bytes()); // record 6, exactly
    expect(again.unstoredBytes()).toBeGreaterThan(0);
    again.release(6);
    expect(again.unstoredBytes()).toBe(0);
    await again.close();
  });

  it("never reuses sequence numbers the stores already hold, even with the log removed", async () => {
    const wal = await openWal(dir(), { floorSeq: 41 });
    expect((await wal.append(entry(1))).seq).toBe(42);
    await wal.close();
  });

  it("reads back as the same record JSON.stringify would have written, tags in Chinese and odd spacing included", async () => {
    const path = dir();
    const wal = await openWal(path);
    const tags = { town: "来苏镇", village: "梳妆台村 😀", station: undefined };
    const payload = { ts: 1763719500000, pv: { v: 0.4, a: 0, w: 1e-7 }, faults: ["load_open"], note: 'say "hi"\\' };
    const reading = { measurement: "streetlight_telemetry", deviceId: "YC-1", ts: 1763719500000, receivedAt: 1763719500123, tags, payload };
    const own = ` {"pv" : {"w":1e-7,"v":0.40,"a":0}, "ts":1763719500000,"faults":["load_open"],"note":"say \\"hi\\"\\\\"} `;
    expect(JSON.parse(own)).toEqual(payload);
    const a = await wal.append({ kind: "reading", reading }, Buffer.from(own));
    const b = await wal.append({ kind: "reading", reading });
    await wal.close();
    const again = await openWal(path);
    const [ra, rb] = [...again.replay(0)];
    expect(ra).toEqual({ ...a, reading: { ...reading, tags: { town: "来苏镇", village: "梳妆台村 😀" } } });
    expect(rb?.seq).toBe(b.seq);
    expect(ra).toEqual(rb && { ...rb, seq: a.seq }); // the same record as JSON.stringify wrote
    await again.close();
  });

  it("writes a payload's own bytes whatever the numbers and sizes: 0, the largest safe integer, a payload past the buffer", async () => {
    const path = dir();
    const wal = await openWal(path);
    const big = { text: "灯".repeat(600_000) }; // ~1.8 MB of UTF-8: larger than the write buffer
    const cases = [
      { ts: 0, receivedAt: Number.MAX_SAFE_INTEGER, payload: { a: 1 } },
      { ts: Number.MAX_SAFE_INTEGER, receivedAt: 9, payload: big },
      { ts: 10, receivedAt: 10, payload: { b: [1, 2] } },
    ];
    const written = await Promise.all(
      cases.map((c) =>
        wal.append(
          { kind: "reading", reading: { measurement: "streetlight_telemetry", deviceId: "L1", tags: { town: "来苏镇" }, ...c } },
          Buffer.from(JSON.stringify(c.payload)),
        ),
      ),
    );
    await wal.close();
    const again = await openWal(path);
    expect([...again.replay(0)]).toEqual(written);
    await again.close();
  });

  it("calls every waiter of a write once, whatever one of them throws, and reports what it threw", async () => {
    const thrown: unknown[] = [];
    const wal = await openWal(dir(), { onCallbackError: (e) => thrown.push(e) });
    const heard: (string | undefined)[] = [];
    await new Promise<void>((resolve) => {
      wal.write(entry(1), undefined, (e) => {
        heard.push(e === undefined ? "ok" : String(e));
        throw new Error("a monitor's bug");
      });
      wal.write(entry(2), undefined, (e) => {
        heard.push(e === undefined ? "ok" : String(e));
        resolve();
      });
    });
    expect(heard).toEqual(["ok", "ok"]);
    expect(thrown.map((e) => (e as Error).message)).toEqual(["a monitor's bug"]);
    expect((await wal.append(entry(3))).seq).toBe(3); // the log goes on
    expect([...wal.replay(0)].map((r) => r.seq)).toEqual([1, 2, 3]);
    await wal.close();
  });

  it("gives the lines of records still in memory, none once released or for a range it does not hold whole", async () => {
    const path = dir();
    const wal = await openWal(path);
    await Promise.all([1, 2, 3].map((i) => wal.append(entry(i)))); // one flush
    await wal.append(entry(4)); // another
    const text = Buffer.from(wal.lines(2, 4) ?? []).toString("utf8");
    expect(
      text
        .split("\n")
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    ).toEqual([1, 2, 3, 4]);
    expect(wal.lines(4, 5)).toBeNull(); // 5 not written
    wal.release(3);
    expect(wal.lines(2, 4)).toBeNull();
    expect(wal.lines(4, 4)).not.toBeNull();
    await wal.close();
    const again = await openWal(path);
    expect(again.lines(4, 4)).toBeNull(); // after a restart the stores read the files
    await again.close();
  });

  it("keeps no lines when no store reads them (keepLines: false), and its batches are written and read back whole", async () => {
    const path = dir();
    const wal = await openWal(path, { keepLines: false });
    // batches larger than the write buffer's first size (1 MiB): it grows, and is reused, with nothing held for `lines`
    const big = (i: number): WalEntry => {
      const e = entry(i);
      return e.kind === "reading" ? { ...e, reading: { ...e.reading, payload: { ts: e.reading.ts, note: "x".repeat(4000) } } } : e;
    };
    for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 400 }, (_, k) => wal.append(big(round * 400 + k + 1))));
    expect(wal.lines(1, 1)).toBeNull();
    expect(wal.lines(1200, 1200)).toBeNull();
    await wal.close();
    const again = await openWal(path);
    expect([...again.replay(0)].map((r) => r.seq)).toEqual(Array.from({ length: 1200 }, (_, k) => k + 1));
    await again.close();
  });
});
