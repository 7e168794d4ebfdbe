import { createDeflateRaw, deflateRawSync } from "node:zlib";
import ExcelJS from "exceljs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLAIM_HEADER, claimRow, claimsCsv, claimsXlsx } from "../harness/claims.js";
import { startTestApp, type TestApp } from "../harness/helpers.js";
import { checkZip, zipEntries } from "../src/platform/zip.js";
import { parseClaims } from "../src/verification/claims.js";

const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
type ErrorBody = {
  error: { code: string; message: string; params?: Record<string, unknown>; details?: { rows: { code: string }[]; more?: number } };
};

/** A zip archive, written by hand: each entry's data as given (stored or raw deflate) and the sizes it declares. */
function zip(entries: { name: string; data: Buffer; method: 0 | 8; declares: number }[], before: Uint8Array = new Uint8Array(0)): Buffer {
  const parts: Uint8Array[] = [before];
  const central: Buffer[] = [];
  let offset = before.length;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.method, 8);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.declares, 22);
    local.writeUInt16LE(name.length, 26);
    parts.push(local, name, e.data);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(e.method, 10);
    c.writeUInt32LE(e.data.length, 20);
    c.writeUInt32LE(e.declares, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, end]);
}

/** `bytes` zeros, raw-deflated (1 GiB comes to about 1 MB), made a MiB at a time. */
async function zerosDeflated(bytes: number): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on("data", (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => deflate.on("end", resolve));
  const mib = Buffer.alloc(1 << 20);
  for (let i = 0; i < bytes / mib.length; i++) if (!deflate.write(mib)) await new Promise((r) => deflate.once("drain", r));
  deflate.end();
  await done;
  return Buffer.concat(out);
}

const GIB = 2 ** 30;
const LIMITS = { maxEntries: 1000, maxUncompressedBytes: 220 * 2 ** 20 };

describe("XLSX zip bombs (issue 16, V10)", () => {
  let t: TestApp;
  let zeros: Buffer;
  beforeAll(async () => {
    t = await startTestApp();
    zeros = await zerosDeflated(GIB);
  });
  afterAll(() => t.stop());
  const post = (body: Buffer) =>
    t.api("/api/v1/projects/import", { method: "POST", body, headers: { "content-type": XLSX, "accept-language": "en" } });
  const sheet = (data: Buffer, declares: number) =>
    zip([
      { name: "[Content_Types].xml", data: Buffer.from("<Types/>"), method: 0, declares: 8 },
      { name: "xl/worksheets/sheet1.xml", data, method: 8, declares },
    ]);

  it("refuses a workbook whose entry declares 1 GiB (a ~1 MB zip of zeros) from its central directory, with a coded message", async () => {
    const bomb = sheet(zeros, GIB);
    expect(bomb.length).toBeLessThan(2 * 2 ** 20);
    const res = await post(bomb);
    expect(res.status).toBe(422);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe("xlsx_too_large");
    expect(body.error.params).toEqual({ bytes: GIB + 8, maxBytes: 16 * 2 ** 20 + 100_000 * 2048 });
    expect(body.error.message).toMatch(/^This XLSX file would inflate to 1024 MB \(the limit is 211 MB\); not inflated$/);
  });

  it("…without inflating anything: the same entry with bytes that are not deflate at all is refused the same way", async () => {
    // (had it been inflated, it would be unreadable; it is refused for what its directory declares)
    const res = await post(sheet(Buffer.alloc(zeros.length, 0xff), GIB));
    expect(res.status).toBe(422);
    expect(((await res.json()) as ErrorBody).error.code).toBe("xlsx_too_large");
    expect(zipEntries(sheet(Buffer.alloc(10, 0xff), GIB), LIMITS)).toEqual({
      problem: "too_large",
      bytes: GIB + 8,
      max: LIMITS.maxUncompressedBytes,
    });
  });

  it("an entry that declares less than it inflates to is stopped just past what it declares, and refused as unreadable", async () => {
    const liar = sheet(zeros, 1000);
    expect(await checkZip(liar, LIMITS)).toEqual({ problem: "unreadable", why: "xl/worksheets/sheet1.xml inflates past its declared size" });
    const res = await post(liar);
    expect(res.status).toBe(422);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.details?.rows.map((r) => r.code)).toEqual(["claims_unreadable"]);
  });

  it("refuses a workbook of absurdly many entries, and one whose local entries are not its directory's", async () => {
    const many = zip(Array.from({ length: 2000 }, (_, i) => ({ name: `x/${i}`, data: Buffer.alloc(0), method: 0 as const, declares: 0 })));
    const res = await post(many);
    expect(res.status).toBe(422);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe("xlsx_too_many_entries");
    expect(body.error.params).toEqual({ entries: 2000, max: 1000 });
    // a hidden entry between two listed ones (a streaming reader would meet it; the directory does not list it)
    const a = { name: "a", data: deflateRawSync(Buffer.from("x")), method: 8 as const, declares: 1 };
    expect(zipEntries(zip([a]), LIMITS)).toMatchObject({ entries: [{ name: "a" }] });
    const unlisted = zip([{ name: "b", data: zeros, method: 8, declares: GIB }]).subarray(0, 30 + 1 + zeros.length);
    expect(zipEntries(zip([a], unlisted), LIMITS)).toEqual({ problem: "unreadable", why: "local entries do not match the directory" });
  });

  it("reads the first sheet only, and is done with the file when it answers", async () => {
    const wb = new ExcelJS.Workbook();
    const first = wb.addWorksheet("申报清单");
    first.addRow([...CLAIM_HEADER]);
    for (let i = 0; i < 5; i++) first.addRow(claimRow(i));
    const other = wb.addWorksheet("备注");
    for (let i = 0; i < 2000; i++) other.addRow(["not", "a", "claim", i]);
    const file = Buffer.from(await wb.xlsx.writeBuffer());
    const parsed = await parseClaims(file, "xlsx");
    expect(parsed.claims.map((c) => c.deviceId)).toEqual([0, 1, 2, 3, 4].map((i) => claimRow(i)[7]));
    expect(parsed.errors).toEqual([]);
    // the file's bytes moved elsewhere (as the import moves them to a thread): nothing still reads them
    structuredClone(file.buffer, { transfer: [file.buffer] });
    await new Promise((r) => setTimeout(r, 200));
  });

  it("still imports a real workbook after them", async () => {
    const res = await post(await claimsXlsx(50));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      projects: 1,
      created: 50,
      updated: 0,
      unchanged: 0,
      projectsCreated: 1,
      projectsUpdated: 0,
      headerRow: 1,
      encoding: null,
    });
  });
});

describe("import row limit and body limit (issue 16, V9)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ AGRILUME_IMPORT_MAX_ROWS: "1000" });
  });
  afterAll(() => t.stop());
  const post = (path: string, body: string | Buffer, type = "text/csv") =>
    t.api(path, { method: "POST", body, headers: { "content-type": type, "accept-language": "en" } });

  it("refuses a claims file of more rows than AGRILUME_IMPORT_MAX_ROWS, CSV or XLSX, and imports one of exactly as many", async () => {
    for (const [body, type] of [
      [claimsCsv(1001), "text/csv"],
      [await claimsXlsx(1001), XLSX],
    ] as const) {
      const res = await post("/api/v1/projects/import", body, type);
      expect(res.status).toBe(422);
      const err = ((await res.json()) as ErrorBody).error;
      expect(err).toEqual({
        code: "import_too_many_rows",
        params: { max: 1000 },
        message: "The file has more than 1000 rows (AGRILUME_IMPORT_MAX_ROWS); nothing was imported: split it into several files",
      });
    }
    const ok = await post("/api/v1/projects/import", claimsCsv(1000));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({
      projects: 10,
      created: 1000,
      updated: 0,
      unchanged: 0,
      projectsCreated: 10,
      projectsUpdated: 0,
      headerRow: 1,
      encoding: "utf-8",
    });
  });

  it("refuses a device list of more rows than the limit", async () => {
    const rows = Array.from({ length: 1001 }, (_, i) => `LIM-${i},streetlight,来苏镇,梳妆台村,29.35,105.91`);
    const res = await post("/api/v1/devices/import", ["id,family,town,village,lat,lon", ...rows].join("\n"));
    expect(res.status).toBe(422);
    expect(((await res.json()) as ErrorBody).error).toMatchObject({ code: "import_too_many_rows", params: { max: 1000 } });
    const list = (await (await t.api("/api/v1/devices")).json()) as { total: number };
    expect(list.total).toBe(0);
  });

  it("answers 413 past the import's body limit, naming that limit", async () => {
    const res = await post("/api/v1/projects/import", "x".repeat(8 * 2 ** 20 + 1));
    expect(res.status).toBe(413);
    expect(((await res.json()) as ErrorBody).error).toMatchObject({ code: "payload_too_large", params: { limitBytes: 8 * 2 ** 20 } });
  });
  it("reads a file sent without Content-Length (chunked) the same, and still stops it at the limit", async () => {
    const chunked = (parts: string[], type = "text/csv") => {
      const enc = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          const p = parts.shift();
          if (p === undefined) c.close();
          else c.enqueue(enc.encode(p));
        },
      });
      return t.api("/api/v1/devices/import", { method: "POST", body, headers: { "content-type": type }, duplex: "half" } as RequestInit);
    };
    const rows = Array.from({ length: 200 }, (_, i) => `CH-${i},streetlight,来苏镇,梳妆台村,29.35,105.91\n`);
    const ok = await chunked(["id,family,town,village,lat,lon\n", ...rows]);
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { created: number }).created).toBe(200);
    const big = await chunked(Array.from({ length: 9 }, () => "x".repeat(2 ** 20)));
    expect(big.status).toBe(413);
    expect(((await big.json()) as ErrorBody).error).toMatchObject({ code: "payload_too_large" });
  });
});

describe("a district's claims file (issue 16, V9)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());
  const post = (body: string) =>
    t.api("/api/v1/projects/import", { method: "POST", body, headers: { "content-type": "text/csv", "accept-language": "en" } });

  it("imports 100,000 claims (12 MB, past the 8 MB every other route takes); the same file again changes nothing", async () => {
    const csv = claimsCsv(100_000);
    expect(Buffer.byteLength(csv)).toBeGreaterThan(8 * 2 ** 20);
    const res = await post(csv);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      projects: 1000,
      created: 100_000,
      updated: 0,
      unchanged: 0,
      projectsCreated: 1000,
      projectsUpdated: 0,
      headerRow: 1,
      encoding: "utf-8",
    });
    const again = await post(csv.replace(`,${claimRow(5).slice(8).join(",")}`, `,${claimRow(5).slice(8, 12).join(",")},2024-09-13`));
    expect(await again.json()).toEqual({
      projects: 1000,
      created: 0,
      updated: 1,
      unchanged: 99_999,
      projectsCreated: 0,
      projectsUpdated: 0,
      headerRow: 1,
      encoding: "utf-8",
    });
  }, 120_000);

  it("a file of many bad rows reports the first 1,000 and counts them all", async () => {
    const lines = [
      CLAIM_HEADER.join(","),
      ...Array.from({ length: 1500 }, (_, i) =>
        claimRow(i)
          .join(",")
          .replace(/,\d{15},/, ",123,"),
      ),
    ];
    const res = await post(lines.join("\n"));
    expect(res.status).toBe(422);
    const err = ((await res.json()) as ErrorBody).error;
    expect(err.message).toMatch(/^Invalid request: 1500 row\(s\) have problems; nothing was imported; line 2 /);
    expect(err.details?.rows).toHaveLength(1000);
    expect(err.details?.more).toBe(500);
  });
});
