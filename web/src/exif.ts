/**
 * The time and place a phone's photo was taken (EXIF DateTimeOriginal and GPS), read on the phone before the photo is
 * resized: drawing it on a canvas loses its metadata, and the service keeps these two as the photo's fields (it strips
 * the rest). A JPEG's APP1 segment only; anything unreadable is simply not there.
 */
export type Taken = { takenAt: string | null; lat: number | null; lon: number | null };
export const NO_EXIF: Taken = { takenAt: null, lat: null, lon: null };

export async function readTaken(file: Blob): Promise<Taken> {
  // the EXIF block sits at the start: the first 128 KiB hold it
  const b = new DataView(await file.slice(0, 128 * 1024).arrayBuffer());
  if (b.byteLength < 4 || b.getUint16(0) !== 0xffd8) return NO_EXIF;
  for (let i = 2; i + 4 <= b.byteLength; ) {
    if (b.getUint8(i) !== 0xff) return NO_EXIF;
    const marker = b.getUint8(i + 1);
    if (marker === 0xda || marker === 0xd9) return NO_EXIF; // the image itself: no EXIF before it
    const len = b.getUint16(i + 2);
    if (marker === 0xe1 && i + 10 <= b.byteLength && ascii(b, i + 4, 6) === "Exif\0\0")
      return tiff(new DataView(b.buffer, i + 10, Math.min(len - 8, b.byteLength - i - 10)));
    i += 2 + len;
  }
  return NO_EXIF;
}

function ascii(b: DataView, at: number, n: number): string {
  let s = "";
  for (let k = 0; k < n && at + k < b.byteLength; k++) s += String.fromCharCode(b.getUint8(at + k));
  return s;
}

function tiff(t: DataView): Taken {
  if (t.byteLength < 8) return NO_EXIF;
  const order = ascii(t, 0, 2);
  if (order !== "II" && order !== "MM") return NO_EXIF;
  const le = order === "II";
  const u16 = (o: number) => (o >= 0 && o + 2 <= t.byteLength ? t.getUint16(o, le) : -1);
  const u32 = (o: number) => (o >= 0 && o + 4 <= t.byteLength ? t.getUint32(o, le) : -1);
  type Tag = { type: number; count: number; at: number };
  const ifd = (at: number) => {
    const tags = new Map<number, Tag>();
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
  const text = (e: Tag | undefined) => (e && e.at >= 0 && e.at + e.count <= t.byteLength ? ascii(t, e.at, e.count).replace(/\0.*$/s, "") : null);
  const rational = (o: number) => {
    const d = u32(o + 4);
    return d > 0 ? u32(o) / d : Number.NaN;
  };
  const ifd0 = ifd(u32(4));
  const exifAt = ifd0.get(0x8769);
  const exif = exifAt ? ifd(u32(exifAt.at)) : new Map<number, Tag>();
  const stamp = text(exif.get(0x9003)) ?? text(ifd0.get(0x0132));
  const offset = text(exif.get(0x9011));
  const m = stamp?.match(/^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})/);
  // (a camera's clock without an offset is read as China time, as the service reads it)
  const ms = m
    ? Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${offset && /^[+-]\d{2}:\d{2}$/.test(offset) ? offset : "+08:00"}`)
    : Number.NaN;
  let lat: number | null = null;
  let lon: number | null = null;
  const gpsAt = ifd0.get(0x8825);
  if (gpsAt) {
    const g = ifd(u32(gpsAt.at));
    const coord = (tag: number, ref: number, neg: string) => {
      const e = g.get(tag);
      if (e?.type !== 5 || e.count !== 3) return null;
      const v = rational(e.at) + rational(e.at + 8) / 60 + rational(e.at + 16) / 3600;
      return Number.isFinite(v) ? (text(g.get(ref)) === neg ? -v : v) : null;
    };
    const la = coord(2, 1, "S");
    const lo = coord(4, 3, "W");
    if (la !== null && lo !== null && Math.abs(la) <= 90 && Math.abs(lo) <= 180) [lat, lon] = [la, lo];
  }
  return { takenAt: Number.isFinite(ms) ? new Date(ms).toISOString() : null, lat, lon };
}

/** The query a photo's upload carries so the service keeps its time and place (empty when the photo had none). */
export function takenQuery(t: Taken): string {
  const q = new URLSearchParams();
  if (t.takenAt) q.set("takenAt", t.takenAt);
  if (t.lat !== null && t.lon !== null) {
    q.set("lat", t.lat.toFixed(6));
    q.set("lon", t.lon.toFixed(6));
  }
  return q.toString();
}
