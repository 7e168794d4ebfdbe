import { afterAll, beforeAll } from "vitest";
import { INFLUXD, type Influx, serviceAvailable, startInflux } from "../harness/services.js";
import { createLogger } from "../src/platform/log.js";
import { createInfluxTelemetryStore } from "../src/storage/influx-telemetry.js";
import { telemetryStoreContract } from "./store-contract.js";

const run = serviceAvailable("InfluxDB", INFLUXD, "apt-get install influxdb");
let influx: Influx | null = null;
let n = 0;

if (run) {
  beforeAll(async () => {
    influx = await startInflux();
  });
  afterAll(async () => {
    await influx?.stop();
    influx?.remove();
  });
  telemetryStoreContract("InfluxDB 1.x (Debian influxdb)", async () => {
    const database = `contract_${process.pid}_${++n}`;
    const open = () =>
      createInfluxTelemetryStore(
        { url: influx?.url ?? "", database, setup: true, rawRetention: "60d", rollupRetention: "104w", instance: "contract" },
        createLogger("silent"),
      );
    return { open, cleanup: () => undefined };
  });
}
