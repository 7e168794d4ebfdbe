import { createDuckDbTelemetryStore } from "../src/store/duckdb-telemetry.js";
import { tempDir } from "./helpers.js";
import { telemetryStoreContract } from "./store-contract.js";

telemetryStoreContract("embedded (DuckDB)", async () => {
  const dir = tempDir();
  return { open: () => createDuckDbTelemetryStore(dir.path), cleanup: dir.remove };
});
