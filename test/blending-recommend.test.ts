import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../harness/helpers.js";

describe("POST /formulas/recommend on N-rich paddy (issue 20 #6)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.stop());

  it("answers 422 with the reason, not 200 with grade 0-0-0 and a tonne of filler", async () => {
    const res = await t.api("/api/v1/formulas/recommend", {
      method: "POST",
      body: JSON.stringify({ crop: "rice", targetYieldKgPerMu: 400, soilTest: { alkaliN: 120, olsenP: 15, availableK: 90 } }),
    });
    const body = (await res.json()) as { error: { code: string; message: string; params: { problems: { code: string; params: { n: number } }[] } } };
    expect(res.status).toBe(422);
    expect(body.error.params.problems[0]).toMatchObject({ code: "ratio_not_blendable", params: { n: 0 } });
    expect(body.error.message).toContain("不含氮的磷肥");
  });

  it("still recommends a grade where the soil lacks N too", async () => {
    const res = await t.api("/api/v1/formulas/recommend", {
      method: "POST",
      body: JSON.stringify({ crop: "rice", targetYieldKgPerMu: 550, soilTest: { alkaliN: 60, olsenP: 8, availableK: 60 } }),
    });
    expect(res.status).toBe(200);
    const r = (await res.json()) as { grade: string; rateKgPerMu: number };
    expect(r.grade).not.toBe("0-0-0");
    expect(r.rateKgPerMu).toBeGreaterThan(0);
  });
});
