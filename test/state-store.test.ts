import { afterAll, beforeAll, describe } from "vitest";
import { tempDir } from "../harness/helpers.js";
import { POSTGRES_BIN, type Postgres, serviceAvailable, startPostgres } from "../harness/services.js";
import { openStateStore } from "../src/state.js";
import { duckDbFactory, stateStoreContract } from "./state-store-contract.js";

stateStoreContract(
  "embedded DuckDB",
  "duckdb",
  duckDbFactory(() => tempDir()),
);

const run = serviceAvailable("PostgreSQL", POSTGRES_BIN, "apt-get install postgresql");

describe.skipIf(!run)("on PostgreSQL (Debian postgresql)", () => {
  let postgres: Postgres | undefined;
  let n = 0;
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
    postgres?.remove();
  });
  stateStoreContract("PostgreSQL", "postgres", async () => {
    const url = await (postgres as Postgres).createDatabase(`contract_${++n}`);
    const dir = tempDir();
    return { open: () => openStateStore(dir.path, { url }), cleanup: () => dir.remove() };
  });
});
