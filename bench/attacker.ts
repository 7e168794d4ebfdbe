import { spawn } from "node:child_process";
import { setPriority } from "node:os";

/**
 * The attack, from a process of its own (bench/attack.ts), at the lowest priority: made in the generator's process, ~200
 * MQTT clients a second held its event loop for ~200 ms at a time (its loop delay p99), and the generator times the
 * PUBACKs. Answers the attacker's counts once it has them; `once` leaves its clients connected until `stop`.
 */
export function attack(
  mode: "flood" | "storm" | "once",
  k: number,
  seconds: number,
  url: string,
  id: string,
  secret: string,
): Promise<{ attempts: number; outcomes: Record<string, number>; seconds?: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/attack.ts", mode, String(k), String(seconds), url, id, secret], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  // At the lowest priority: on a machine of two cores the attacker's own CPU (an MQTT client made ~100 times a second)
  // would otherwise be taken from the service and the generator alike; a real attacker's (or a device's) is its own.
  if (child.pid !== undefined) setPriority(child.pid, 19);
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  const stop = async () => {
    child.stdin.end();
    await exited;
  };
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n") && line) resolve({ ...(JSON.parse(line) as { attempts: number; outcomes: Record<string, number> }), stop });
    });
    void exited.then((code) => reject(new Error(`attack exited ${code} before it answered`)), reject);
  });
}
