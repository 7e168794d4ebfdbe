import type { FastifyReply } from "fastify";
import { parseChinaTime } from "../platform/clock.js";
import { invalid } from "../platform/errors.js";
import { fieldworkMessage as msg } from "./messages.js";
/**
 * A photo from a phone, made safe to keep: its type judged by its bytes (JPEG, PNG), never by its name or header, and
 * its metadata removed: a JPEG keeps only the segments a decoder needs (JFIF, the ICC colour profile, Adobe's colour
 * transform, the tables and the image), a PNG only its critical and colour chunks. EXIF, XMP, IPTC, comments and
 * text chunks go (the phone's make, serial, owner, thumbnails). What the record keeps of them is the time the photo was
 * taken and where (EXIF DateTimeOriginal and GPS), as fields of the photo's record, not in the file.
 */

export type CleanPhoto = {
  mediaType: "image/jpeg" | "image/png";
  data: Buffer;
  /** When the photo was taken (EXIF DateTimeOriginal, read as China time unless the photo says its offset). */
  takenAt: number | null;
  /** Where (EXIF GPS). */
  gps: { lat: number; lon: number } | null;
  /** The size the file declares (a JPEG's frame header, a PNG's IHDR): what a browser would decode. */
  width: number;
  height: number;
};

/**
 * The most pixels a kept photo may declare: a phone's camera makes 12–50 megapixels (the phone pages resize to 1600 px
 * first). A file of a few KB can declare 60,000 × 60,000 (3.6 gigapixels) and stall or crash every browser that shows it.
 */
export const MAX_PHOTO_MEGAPIXELS = 50;
const MAX_PHOTO_SIDE = 16_384;

/** A photo as a work order or a visit keeps it: within `maxBytes`, a JPEG or PNG by its bytes, of a size a browser can show; else a clear 422. */
export function takePhoto(bytes: Buffer, maxBytes: number): CleanPhoto {
  if (bytes.length > maxBytes) throw invalid(msg("photo_too_large", { bytes: bytes.length, maxBytes }));
  const clean = cleanPhoto(bytes);
  if (!clean) throw invalid(msg("photo_not_image", {}));
  const { width, height } = clean;
  if (width > MAX_PHOTO_SIDE || height > MAX_PHOTO_SIDE || width * height > MAX_PHOTO_MEGAPIXELS * 1_000_000)
    throw invalid(msg("photo_too_many_pixels", { width, height, maxMegapixels: MAX_PHOTO_MEGAPIXELS }));
  return clean;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** PNG chunks kept: the image and its colour; everything else (text, time, eXIf, private chunks) is dropped. */
const PNG_KEEP = new Set(["IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "cHRM", "sRGB", "iCCP", "sBIT", "pHYs"]);

/** The cleaned photo, or null when the bytes are not a whole JPEG or PNG. */
export function cleanPhoto(bytes: Buffer): CleanPhoto | null {
  if (bytes.length > 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return cleanJpeg(bytes);
  if (bytes.length > 8 && bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return cleanPng(bytes);
  return null;
}

function cleanJpeg(b: Buffer): CleanPhoto | null {
  const out: Buffer[] = [b.subarray(0, 2)];
  let meta: Pick<CleanPhoto, "takenAt" | "gps"> = { takenAt: null, gps: null };
  /** From the frame header (SOF0–SOF15 but DHT, JPG and DAC); a JPEG without one is not an image. */
  let size: { width: number; height: number } | null = null;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1] as number;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd9) {
      out.push(b.subarray(i, i + 2));
      return size ? { mediaType: "image/jpeg", data: Buffer.concat(out), ...meta, ...size } : null;
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      out.push(b.subarray(i, i + 2));
      i += 2;
      continue;
    }
    const len = b.readUInt16BE(i + 2);
    if (len < 2 || i + 2 + len > b.length) return null;
    const seg = b.subarray(i, i + 2 + len);
    if (marker === 0xda) {
      // the scan: everything from here to the end is image data (with its own markers), kept as it is
      out.push(b.subarray(i));
      const end = b.lastIndexOf(Buffer.from([0xff, 0xd9]));
      if (end < i || !size) return null;
      return { mediaType: "image/jpeg", data: Buffer.concat(out), ...meta, ...size };
    }
    const payload = seg.subarray(4);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc && payload.length >= 5)
      size = { height: payload.readUInt16BE(1), width: payload.readUInt16BE(3) };
    const app = marker >= 0xe0 && marker <= 0xef;
    if (marker === 0xe1 && payload.subarray(0, 6).toString("latin1") === "Exif\0\0") meta = readExif(payload.subarray(6));
    const keep =
      !app ||
      marker === 0xe0 || // JFIF
      (marker === 0xe2 && payload.subarray(0, 12).toString("latin1") === "ICC_PROFILE\0") ||
      marker === 0xee; // Adobe (colour transform)
    if (keep && marker !== 0xfe) out.push(seg);
    i += 2 + len;
  }
  return null;
}

function cleanPng(b: Buffer): CleanPhoto | null {
  const out: Buffer[] = [PNG_SIGNATURE];
  let meta: Pick<CleanPhoto, "takenAt" | "gps"> = { takenAt: null, gps: null };
  let size: { width: number; height: number } | null = null;
  let i = 8;
  while (i + 12 <= b.length) {
    const len = b.readUInt32BE(i);
    const type = b.subarray(i + 4, i + 8).toString("latin1");
    if (i + 12 + len > b.length) return null;
    if (type === "eXIf") meta = readExif(b.subarray(i + 8, i + 8 + len));
    if (type === "IHDR" && len >= 8) size = { width: b.readUInt32BE(i + 8), height: b.readUInt32BE(i + 12) };
    if (PNG_KEEP.has(type)) out.push(b.subarray(i, i + 12 + len));
    i += 12 + len;
    if (type === "IEND") return out.length > 2 && size ? { mediaType: "image/png", data: Buffer.concat(out), ...meta, ...size } : null;
  }
  return null;
}

/** DateTimeOriginal and GPS from a TIFF-structured EXIF block; anything unreadable is simply not there. */
export function readExif(t: Buffer): Pick<CleanPhoto, "takenAt" | "gps"> {
  const none = { takenAt: null, gps: null };
  if (t.length < 8) return none;
  const le = t.toString("latin1", 0, 2) === "II";
  if (!le && t.toString("latin1", 0, 2) !== "MM") return none;
  const u16 = (o: number) => (o + 2 <= t.length ? (le ? t.readUInt16LE(o) : t.readUInt16BE(o)) : -1);
  const u32 = (o: number) => (o + 4 <= t.length ? (le ? t.readUInt32LE(o) : t.readUInt32BE(o)) : -1);
  /** An IFD's entries by tag: where each value is (inline or at its offset) and its count. */
  const ifd = (at: number) => {
    const tags = new Map<number, { type: number; count: number; at: number }>();
    const n = u16(at);
    if (at <= 0 || n < 0 || n > 500) return tags;
    for (let k = 0; k < n; k++) {
      const e = at + 2 + k * 12;
      const type = u16(e + 2);
      const count = u32(e + 4);
      const size = ({ 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 } as Record<number, number>)[type] ?? 1;
      tags.set(u16(e), { type, count, at: size * count <= 4 ? e + 8 : u32(e + 8) });
    }
    return tags;
  };
  const ascii = (e: { count: number; at: number } | undefined) =>
    e && e.at >= 0 && e.at + e.count <= t.length ? t.toString("latin1", e.at, e.at + e.count).replace(/\0.*$/s, "") : null;
  const rational = (o: number) => {
    const d = u32(o + 4);
    return d > 0 ? u32(o) / d : Number.NaN;
  };
  const ifd0 = ifd(u32(4));
  const exifAt = ifd0.get(0x8769);
  const exif = exifAt ? ifd(u32(exifAt.at)) : new Map<number, { type: number; count: number; at: number }>();
  const stamp = ascii(exif.get(0x9003)) ?? ascii(ifd0.get(0x0132));
  const offset = ascii(exif.get(0x9011));
  const m = stamp?.match(/^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})/);
  // (a camera's own time without its offset tag is China time)
  const takenAt = m
    ? parseChinaTime(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${offset && /^[+-]\d{2}:\d{2}$/.test(offset) ? offset : ""}`)
    : null;
  let gps: CleanPhoto["gps"] = null;
  const gpsAt = ifd0.get(0x8825);
  if (gpsAt) {
    const g = ifd(u32(gpsAt.at));
    const coord = (tag: number, ref: number, neg: string) => {
      const e = g.get(tag);
      if (e?.type !== 5 || e.count !== 3) return null;
      const v = rational(e.at) + rational(e.at + 8) / 60 + rational(e.at + 16) / 3600;
      return Number.isFinite(v) ? (ascii(g.get(ref)) === neg ? -v : v) : null;
    };
    const lat = coord(2, 1, "S");
    const lon = coord(4, 3, "W");
    if (lat !== null && lon !== null && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) gps = { lat, lon };
  }
  return { takenAt: takenAt !== null && Number.isFinite(takenAt) ? takenAt : null, gps };
}

/** An image's bytes to the one caller allowed to see them: cached privately, never sniffed as another type. */
export function sendImage(reply: FastifyReply, mediaType: string, data: Buffer) {
  return reply.type(mediaType).header("cache-control", "private, max-age=86400").header("x-content-type-options", "nosniff").send(data);
}
