import { afterAll, beforeAll } from "vitest";
import { createLogger } from "../src/log.js";
import { createInfluxTelemetryStore } from "../src/store/influx-telemetry.js";
import { INFLUXD, type Influx, serviceAvailable, startInflux } from "./services.js";
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
        { url: influx?.url ?? "", database, setup: true, rawRetention: "60d", rollupRetention: "104w" },
        createLogger("silent"),
      );
    return { open, cleanup: () => undefined };
  });
}
