import { createInflateRaw } from "node:zlib";

/**
 * A zip archive (an XLSX workbook is one) checked before anything inflates it (issue 16, V10: a 305 KB workbook that
 * inflates to 300 MB was inflated whole). From the central directory at the archive's end: how many entries, and what
 * each declares it inflates to; both against limits. Then that the entries a streaming reader meets, walking the local
 * headers from the start, are exactly the central directory's (no entry hidden between them, none declaring other sizes
 * or another name), and last that each deflated entry really inflates to no more than it declares, counted while
 * inflating in small pieces and stopped at the first byte past it. Only then is the archive read.
 */
export type ZipLimits = { maxEntries: number; maxUncompressedBytes: number };
export type ZipProblem =
  | { problem: "unreadable"; why: string }
  | { problem: "too_many_entries"; entries: number; max: number }
  | { problem: "too_large"; bytes: number; max: number };

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const DESCRIPTOR = 0x08074b50;
/** Sizes and counts that say "see the ZIP64 record": no workbook under the body limit needs them. */
const ZIP64_U32 = 0xffffffff;
const ZIP64_U16 = 0xffff;

/** An entry as the central directory lists it; `end`: where its local record (header, data, descriptor) ends. */
export type ZipEntry = { name: string; method: number; flags: number; compressed: number; uncompressed: number; offset: number; end: number };

/** The central directory's entries, or what is wrong with it (nothing is inflated). */
export function zipEntries(zip: Buffer, limits: ZipLimits): { entries: ZipEntry[] } | ZipProblem {
  const unreadable = (why: string): ZipProblem => ({ problem: "unreadable", why });
  // the end-of-central-directory record: 22 bytes, then a comment of up to 65,535
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--)
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  if (eocd < 0) return unreadable("no end of central directory");
  const total = zip.readUInt16LE(eocd + 10);
  const cdSize = zip.readUInt32LE(eocd + 12);
  const cdOffset = zip.readUInt32LE(eocd + 16);
  if (total === ZIP64_U16 || cdOffset === ZIP64_U32 || cdSize === ZIP64_U32) return unreadable("ZIP64");
  if (total > limits.maxEntries) return { problem: "too_many_entries", entries: total, max: limits.maxEntries };
  if (cdOffset + cdSize > eocd) return unreadable("central directory out of bounds");
  const entries: ZipEntry[] = [];
  let declared = 0;
  let p = cdOffset;
  while (p < cdOffset + cdSize) {
    if (p + 46 > eocd || zip.readUInt32LE(p) !== CENTRAL) return unreadable("bad central directory entry");
    if (entries.length >= limits.maxEntries) return { problem: "too_many_entries", entries: entries.length + 1, max: limits.maxEntries };
    const nameLen = zip.readUInt16LE(p + 28);
    const e: ZipEntry = {
      flags: zip.readUInt16LE(p + 8),
      method: zip.readUInt16LE(p + 10),
      compressed: zip.readUInt32LE(p + 20),
      uncompressed: zip.readUInt32LE(p + 24),
      offset: zip.readUInt32LE(p + 42),
      name: zip.toString("utf8", p + 46, p + 46 + nameLen),
      end: 0,
    };
    if (e.uncompressed === ZIP64_U32 || e.compressed === ZIP64_U32 || e.offset === ZIP64_U32)
      return { problem: "too_large", bytes: 2 ** 32, max: limits.maxUncompressedBytes }; // (at least 4 GiB)
    declared += e.uncompressed;
    if (declared > limits.maxUncompressedBytes) return { problem: "too_large", bytes: declared, max: limits.maxUncompressedBytes };
    entries.push(e);
    p += 46 + nameLen + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  if (entries.length !== total) return unreadable("entry count differs from the central directory's");
  // The local entries, from the start, are the central directory's, one after the other, up to it.
  let at = 0;
  for (const e of [...entries].sort((a, b) => a.offset - b.offset)) {
    if (e.offset !== at || at + 30 > cdOffset || zip.readUInt32LE(at) !== LOCAL) return unreadable("local entries do not match the directory");
    const nameLen = zip.readUInt16LE(at + 26);
    const flags = zip.readUInt16LE(at + 6);
    const name = zip.toString("utf8", at + 30, at + 30 + nameLen);
    const method = zip.readUInt16LE(at + 8);
    const descriptor = (flags & 8) !== 0;
    const sizes = { compressed: zip.readUInt32LE(at + 18), uncompressed: zip.readUInt32LE(at + 22) };
    if (name !== e.name || method !== e.method || descriptor !== ((e.flags & 8) !== 0)) return unreadable(`local header of ${e.name} differs`);
    if (!descriptor && (sizes.compressed !== e.compressed || sizes.uncompressed !== e.uncompressed))
      return unreadable(`local sizes of ${e.name} differ`);
    if (method !== 0 && method !== 8) return unreadable(`compression method ${method}`);
    if (method === 0 && e.compressed !== e.uncompressed) return unreadable(`stored entry ${e.name} with two sizes`);
    at += 30 + nameLen + zip.readUInt16LE(at + 28) + e.compressed;
    if (descriptor) at += at + 4 <= zip.length && zip.readUInt32LE(at) === DESCRIPTOR ? 16 : 12;
    e.end = at;
  }
  if (at !== cdOffset) return unreadable("bytes between the entries and the directory");
  return { entries };
}

/** Whether `data` (raw deflate) inflates to at most `max` bytes: inflated in pieces, counted, stopped past it. */
function inflatesWithin(data: Buffer, max: number): Promise<{ ok: boolean; bytes: number }> {
  return new Promise((resolve) => {
    const inflate = createInflateRaw({ chunkSize: 64 * 1024 });
    let bytes = 0;
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      inflate.destroy();
      resolve({ ok, bytes });
    };
    inflate.on("data", (c: Buffer) => {
      bytes += c.length;
      if (bytes > max) finish(false);
    });
    inflate.on("end", () => finish(true));
    inflate.on("error", () => finish(false));
    inflate.end(data);
  });
}

/** `zipEntries`, then every deflated entry inflated (and dropped) to check it keeps to its declared size. */
export async function checkZip(zip: Buffer, limits: ZipLimits): Promise<{ entries: ZipEntry[] } | ZipProblem> {
  const listed = zipEntries(zip, limits);
  if ("problem" in listed) return listed;
  for (const e of listed.entries) {
    if (e.method !== 8) continue;
    const start = e.offset + 30 + zip.readUInt16LE(e.offset + 26) + zip.readUInt16LE(e.offset + 28);
    const r = await inflatesWithin(zip.subarray(start, start + e.compressed), e.uncompressed);
    if (!r.ok)
      return { problem: "unreadable", why: r.bytes > e.uncompressed ? `${e.name} inflates past its declared size` : `${e.name} does not inflate` };
  }
  return listed;
}

/**
 * The archive as a stream for a reader that walks local headers from the start (ExcelJS's streaming reader): the
 * entries `rank` gives a place, in that order (slices of the same buffer, nothing copied), then the central directory;
 * an entry ranked `null` is left out, so the reader never meets it.
 */
export function reordered(zip: Buffer, entries: readonly ZipEntry[], rank: (name: string) => number | null): Buffer[] {
  const ranked = entries
    .map((e) => ({ e, r: rank(e.name) }))
    .filter((x): x is { e: ZipEntry; r: number } => x.r !== null)
    .sort((a, b) => a.r - b.r || a.e.offset - b.e.offset);
  const cd = Math.max(0, ...entries.map((e) => e.end));
  return [...ranked.map(({ e }) => zip.subarray(e.offset, e.end)), zip.subarray(cd)];
}
