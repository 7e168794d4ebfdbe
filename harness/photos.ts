/**
 * Photos for tests: a real (tiny, 1 × 1, arithmetic-coded) baseline JPEG, and the same with the metadata a phone adds —
 * an EXIF block naming the phone's make, the time it was taken and where (GPS), and a comment.
 */
const TINY_JPEG = Buffer.from(
  "ffd8ffe000104a46494600010101004800480000ffdb004300030202020202030202020303030304060404040404080606050609080a0a090809090a0c0f0c0a0b0e0b09090d110d0e0f101011100a0c12131210130f101010ffc9000b080001000101011100ffcc000600101005ffda0008010100003f00d2cf20ffd9",
  "hex",
);
export const jpeg = (): Buffer => Buffer.from(TINY_JPEG);

/** EXIF (TIFF, little-endian): IFD0 with Make and the Exif and GPS pointers; DateTimeOriginal; GPS latitude/longitude. */
export function exifBlock(o: { make: string; taken: string; lat: number; lon: number }): Buffer {
  const t = Buffer.alloc(202);
  t.write("II", 0, "latin1");
  t.writeUInt16LE(42, 2);
  t.writeUInt32LE(8, 4);
  const entry = (at: number, tag: number, type: number, count: number, value: number) => {
    t.writeUInt16LE(tag, at);
    t.writeUInt16LE(type, at + 2);
    t.writeUInt32LE(count, at + 4);
    t.writeUInt32LE(value, at + 8);
  };
  // IFD0 at 8: 3 entries
  t.writeUInt16LE(3, 8);
  entry(10, 0x010f, 2, 12, 50); // Make → 50
  entry(22, 0x8769, 4, 1, 62); // Exif IFD → 62
  entry(34, 0x8825, 4, 1, 100); // GPS IFD → 100
  t.write(`${o.make.slice(0, 11).padEnd(11, " ")}\0`, 50, "latin1");
  t.writeUInt16LE(1, 62);
  entry(64, 0x9003, 2, 20, 80); // DateTimeOriginal → 80
  t.write(`${o.taken}\0`, 80, "latin1");
  t.writeUInt16LE(4, 100);
  entry(102, 1, 2, 2, 0);
  t.write(o.lat >= 0 ? "N\0" : "S\0", 110, "latin1");
  entry(114, 2, 5, 3, 154);
  entry(126, 3, 2, 2, 0);
  t.write(o.lon >= 0 ? "E\0" : "W\0", 134, "latin1");
  entry(138, 4, 5, 3, 178);
  const dms = (at: number, v: number) => {
    const a = Math.abs(v);
    const d = Math.floor(a);
    const m = Math.floor((a - d) * 60);
    const s = Math.round(((a - d) * 60 - m) * 60 * 10000);
    for (const [i, [n, den]] of [
      [d, 1],
      [m, 1],
      [s, 10000],
    ].entries()) {
      t.writeUInt32LE(n as number, at + i * 8);
      t.writeUInt32LE(den as number, at + i * 8 + 4);
    }
  };
  dms(154, o.lat);
  dms(178, o.lon);
  return t;
}

const segment = (marker: number, payload: Buffer) => {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0xff00 | marker, 0);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
};

/** The tiny JPEG as a phone sends it: EXIF (make, time, GPS) and a comment after its start. */
export function phoneJpeg(o: { make: string; taken: string; lat: number; lon: number; comment: string }): Buffer {
  const j = jpeg();
  return Buffer.concat([
    j.subarray(0, 2),
    segment(0xe1, Buffer.concat([Buffer.from("Exif\0\0", "latin1"), exifBlock(o)])),
    segment(0xfe, Buffer.from(o.comment, "latin1")),
    j.subarray(2),
  ]);
}
