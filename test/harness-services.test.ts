import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import mqtt from "mqtt";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, listensOn, MOSQUITTO, MOSQUITTO_SERVICE, serviceAvailable, startMosquitto } from "../harness/services.js";

const listen = (port = 0) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
const portOf = (s: Server) => (s.address() as { port: number }).port;

describe("the test services' ports", () => {
  const held: Server[] = [];
  afterAll(() => {
    for (const s of held) s.close();
  });

  it("a port is a process's only while that process listens on it", async () => {
    const mine = await listen();
    held.push(mine);
    expect(listensOn(process.pid, portOf(mine))).toBe(true);
    // another process's listener is not this one's, and the other process is seen as its holder
    const port = await freePort();
    const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${port}, "127.0.0.1", () => console.log("up"))`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise((r) => child.stdout?.once("data", r));
    try {
      expect(listensOn(child.pid, port)).toBe(true);
      expect(listensOn(process.pid, port)).toBe(false);
    } finally {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill();
      await exited;
    }
    expect(listensOn(child.pid, port)).toBe(false);
    const closed = portOf(mine);
    await new Promise((r) => mine.close(r));
    expect(listensOn(process.pid, closed)).toBe(false);
  });

  it.skipIf(!serviceAvailable("Mosquitto", MOSQUITTO, "apt-get install mosquitto"))(
    "a service whose port another process took first starts on another port, and the client reaches it, not the other",
    async () => {
      const other = await listen();
      held.push(other);
      const broker = await startMosquitto({ port: portOf(other) });
      try {
        expect(broker.port).not.toBe(portOf(other));
        const client = await mqtt.connectAsync(broker.url, { ...MOSQUITTO_SERVICE, reconnectPeriod: 0 });
        await client.endAsync();
      } finally {
        await broker.stop();
      }
    },
  );
});
