import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { cruise, type IConfiguration, type ICruiseResult } from "dependency-cruiser";
import { describe, expect, it } from "vitest";
import { tempDir } from "../harness/helpers.js";

const require = createRequire(import.meta.url);
const config = require("../.dependency-cruiser.cjs") as IConfiguration;
const root = join(import.meta.dirname, "..");

async function violations(baseDir: string, paths: string[]): Promise<string[]> {
  const { ruleSet, options } = config as { ruleSet?: unknown; options?: Record<string, unknown> } & IConfiguration;
  const result = await cruise(paths, {
    ...options,
    tsConfig: undefined,
    baseDir,
    validate: true,
    ruleSet: { forbidden: (config as { forbidden: unknown[] }).forbidden, ...(ruleSet as object) },
  } as never);
  const output = result.output as ICruiseResult;
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

describe("structure rules (.dependency-cruiser.cjs)", () => {
  it("hold for the service, the contract, the harness, tests, benchmarks and simulators", async () => {
    expect(await violations(root, ["src", "devices", "harness", "test", "bench", "simulators", "scripts"])).toEqual([]);
  });

  it("catch each kind of wrong import (a fixture tree with one of each)", async () => {
    const dir = tempDir();
    try {
      const files: Record<string, string> = {
        "devices/index.ts": `import "../src/platform/config.js";\nexport const x = 1;\n`,
        "src/platform/config.ts": `import "../blending/service.js";\nexport const c = 1;\n`,
        "src/storage/db.ts": `import "../registry/registry.js";\nexport const d = 1;\n`,
        "src/registry/registry.ts": `import "../ingest/pipeline.js";\nexport const r = 1;\n`,
        "src/ingest/pipeline.ts": `import "../../harness/helpers.js";\nexport const p = 1;\n`,
        "src/http/server.ts": `import "../alerts/routes.js";\nexport const s = 1;\n`,
        "src/alerts/routes.ts": `import "../blending/service.js";\nimport "../streetlights/index.js";\nexport const a = 1;\n`,
        "src/blending/service.ts": `import "../app.js";\nexport const b = 1;\n`,
        "src/streetlights/index.ts": `export const i = 1;\n`,
        "src/app.ts": `import "./alerts/routes.js";\nexport const app = 1;\n`,
        "src/cycle/a.ts": `import "./b.js";\nexport const a = 1;\n`,
        "src/cycle/b.ts": `import "./a.js";\nexport const b = 1;\n`,
        "harness/helpers.ts": `export const h = 1;\n`,
      };
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir.path, path)), { recursive: true });
        writeFileSync(join(dir.path, path), text);
      }
      const found = await violations(dir.path, ["src", "devices", "harness"]);
      expect(found).toEqual(
        expect.arrayContaining([
          "contract-is-standalone: devices/index.ts → src/platform/config.ts",
          "layer-platform: src/platform/config.ts → src/blending/service.ts",
          "layer-storage: src/storage/db.ts → src/registry/registry.ts",
          "layer-registry: src/registry/registry.ts → src/ingest/pipeline.ts",
          "src-not-to-tools: src/ingest/pipeline.ts → harness/helpers.ts",
          "layer-http: src/http/server.ts → src/alerts/routes.ts",
          "features-through-interfaces: src/alerts/routes.ts → src/blending/service.ts",
          "nothing-imports-composition: src/blending/service.ts → src/app.ts",
          "no-circular: src/cycle/a.ts → src/cycle/b.ts",
        ]),
      );
      // A feature's declared interface is allowed, and so is the composition root importing a feature.
      expect(found.filter((v) => v.includes("→ src/streetlights/index.ts") || (v.startsWith("layer-") && v.includes("src/app.ts →")))).toEqual([]);
    } finally {
      dir.remove();
    }
  });
});
