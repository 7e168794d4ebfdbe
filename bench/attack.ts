import mqtt from "mqtt";

/**
 * The attacker of bench/flood.ts, a process of its own: `flood k seconds url` (k connections, each sending a CONNECT with
 * a wrong secret again as soon as the last is answered) or `storm k seconds url id secret` (k clients taking one device
 * id over and over with its right secret). Prints how many CONNECTs were sent and how each ended, as JSON.
 */
const [mode, k, seconds, url, id, secret] = process.argv.slice(2);
if ((mode !== "flood" && mode !== "storm") || !url) {
  process.stderr.write("usage: attack.ts flood|storm <connections> <seconds> <url> [<id> <secret>]\n");
  process.exit(2);
}
const until = performance.now() + Number(seconds) * 1000;
const who =
  mode === "flood"
    ? (i: number, a: number) => ({ clientId: `FLOOD-${i}-${a}`, username: `FLOOD-${i}-${a}`, password: "wrong-secret-wrong-secret" })
    : () => ({ clientId: id ?? "", username: id ?? "", password: secret ?? "" });
process.stdout.write(`${JSON.stringify(await loops(Number(k), until, who, url))}\n`);
process.exit(0);

/**
 * `k` loops until `until`, each connecting with the options `who(loop, attempt)` gives, waiting for the answer, and (if
 * let in) staying until it is closed, or 200 ms, and connecting again; how each attempt ended is counted.
 */
async function loops(k: number, until: number, who: (i: number, attempt: number) => mqtt.IClientOptions, url: string) {
  let attempts = 0;
  const outcomes: Record<string, number> = {};
  const count = (o: string) => {
    outcomes[o] = (outcomes[o] ?? 0) + 1;
  };
  await Promise.all(
    Array.from({ length: k }, async (_, i) => {
      for (let a = 0; performance.now() < until; a++) {
        attempts++;
        try {
          const c = await connectOnce(url, who(i, a));
          count("connected");
          await Promise.race([new Promise<void>((r) => c.once("close", () => r())), sleep(200)]);
          c.end(true);
        } catch (e: unknown) {
          const m = /Bad username or password|Server unavailable|Not authorized|timeout|closed|ECONNRESET/i.exec(String(e));
          count(m ? m[0].toLowerCase() : "other");
        }
      }
    }),
  );
  return { attempts, outcomes };
}

/**
 * One CONNECT and its answer: the client, or why not (refused, closed without an answer, or no answer in 10 s).
 * (`mqtt.connectAsync` waits for ever when the server closes the socket before its CONNACK.)
 */
function connectOnce(url: string, o: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { ...o, reconnectPeriod: 0, connectTimeout: 10_000, clean: true });
    const fail = (why: unknown) => {
      clearTimeout(timer);
      c.end(true);
      reject(why);
    };
    const timer = setTimeout(() => fail(new Error("timeout")), 10_000);
    c.once("connect", () => {
      clearTimeout(timer);
      c.removeAllListeners("error");
      c.on("error", () => undefined);
      resolve(c);
    });
    c.once("error", fail);
    c.once("close", () => fail(new Error("closed")));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
