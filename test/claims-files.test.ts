import ExcelJS from "exceljs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLAIM_HEADER, claimRow, gbk } from "../harness/claims.js";
import { startTestApp, type TestApp } from "../harness/helpers.js";
import { parseClaims } from "../src/verification/claims.js";

/**
 * The claims files Chinese offices save (issue 20 #7): a CSV from Excel on Chinese Windows is GBK, not UTF-8; a
 * workbook has a title (merged across the columns) and often a blank or unit row above the header.
 */
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const TITLE = "来苏镇2024年一事一议路灯补助申报表";

const csvLines = (rows: number) => [CLAIM_HEADER.join(","), ...Array.from({ length: rows }, (_, i) => claimRow(i).join(","))];

async function titledXlsx(rows: (string | number)[][]): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet("申报清单");
  ws.addRow([TITLE]);
  ws.mergeCells(1, 1, 1, CLAIM_HEADER.length);
  ws.addRow(["填报单位：来苏镇人民政府", "", "", "", "", "", "", "", "", "", "", "单位：元"]);
  ws.addRow([]);
  ws.addRow([...CLAIM_HEADER]);
  for (const r of rows) ws.addRow(r);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

describe("claims files as Chinese offices save them", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());
  const post = (body: string | Buffer, type: string) => t.api("/api/v1/projects/import", { method: "POST", body, headers: { "content-type": type } });
  type Lights = { lights: { deviceId: string; town: string; village: string; road: string }[] };
  const lights = async () => ((await (await t.api("/api/v1/verification")).json()) as Lights).lights;

  it("reads a GBK CSV (Excel on Chinese Windows) with a title line above the header, and says how it read it", async () => {
    const file = gbk(`${[`${TITLE},,,,`, ...csvLines(3)].join("\r\n")}\r\n`);
    expect(new TextDecoder("utf-8", { fatal: false }).decode(file)).not.toContain("来苏镇"); // (really not UTF-8)
    const res = await post(file, "text/csv");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      projects: 1,
      created: 3,
      updated: 0,
      unchanged: 0,
      projectsCreated: 1,
      projectsUpdated: 0,
      headerRow: 2,
      encoding: "gb18030",
    });
    const got = (await lights()).find((l) => l.deviceId === "YC-LS-000000");
    expect(got).toMatchObject({ town: "镇0", village: "村0", road: "村道0号" });
    // the same claims in UTF-8 with a BOM are the same claims
    const utf8 = await post(`\uFEFF${csvLines(3).join("\r\n")}\r\n`, "text/csv");
    expect(await utf8.json()).toEqual({
      projects: 1,
      created: 0,
      updated: 0,
      unchanged: 3,
      projectsCreated: 0,
      projectsUpdated: 0,
      headerRow: 1,
      encoding: "utf-8",
    });
  });

  it("gives a GBK file's bad rows their lines in the file, in Chinese", async () => {
    const bad = claimRow(7).map((v, i) => (i === 9 ? 95 : v)); // latitude 95
    const file = gbk(`${[TITLE, ...csvLines(1), bad.join(",")].join("\r\n")}\r\n`);
    const res = await post(file, "text/csv");
    expect(res.status).toBe(422);
    const body = (await res.json()) as { error: { details: { rows: { line: number; reason: string }[] } } };
    expect(body.error.details.rows).toHaveLength(1);
    expect(body.error.details.rows[0]).toMatchObject({ line: 4, reason: expect.stringMatching(/^第 4 行（YC-LS-000007）：lat/) });
  });

  it("finds an XLSX's header below a merged title, a unit line and a blank row; lines are the sheet's rows", async () => {
    const file = await titledXlsx([claimRow(10), claimRow(11)]);
    const res = await post(file, XLSX);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      projects: 1,
      created: 2,
      updated: 0,
      unchanged: 0,
      projectsCreated: 0,
      projectsUpdated: 0,
      headerRow: 4,
      encoding: null,
    });
    expect((await lights()).map((l) => l.deviceId)).toContain("YC-LS-000011");
    const bad = await post(await titledXlsx([claimRow(12), claimRow(13).map((v, i) => (i === 11 ? "86000" : v))]), XLSX);
    const rows = ((await bad.json()) as { error: { details: { rows: { line: number }[] } } }).error.details.rows;
    expect(rows.map((r) => r.line)).toEqual([6]); // title 1, unit 2, blank 3, header 4, rows 5 and 6
  });

  it("says which columns are missing from the row most like a header, and looks no further than 10 rows", async () => {
    const partial = [TITLE, CLAIM_HEADER.filter((h) => h !== "IMEI" && h !== "安装日期").join(","), "x,y"].join("\n");
    const res = await post(partial, "text/csv");
    expect(res.status).toBe(422);
    const row = ((await res.json()) as { error: { details: { rows: { line: number; code: string; params: unknown }[] } } }).error.details.rows[0];
    expect(row).toMatchObject({ line: 2, code: "claims_missing_columns", params: { columns: ["imei", "installedAt"] } });
    // a header below the first 10 rows is not looked for (a file of data without a header is not read as one)
    const deep = [...Array.from({ length: 10 }, (_, i) => `说明 ${i + 1}`), ...csvLines(1)].join("\n");
    await expect(parseClaims(deep, "csv")).resolves.toMatchObject({ claims: [], errors: [{ problem: { code: "claims_missing_columns" } }] });
    const nine = [...Array.from({ length: 9 }, (_, i) => `说明 ${i + 1}`), ...csvLines(1)].join("\n");
    await expect(parseClaims(nine, "csv")).resolves.toMatchObject({ headerRow: 10, errors: [] });
  });
});
