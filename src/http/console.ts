import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { Api } from "./server.js";

/** Where `npm install` (the `prepare` script) builds the web console; not committed. */
export const CONSOLE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "web", "dist");

/** The origins a base map's tile URL loads from: one per subdomain its `{s}` takes. */
export function tileOrigins(tiles: { url: string; subdomains: string } | null): string[] {
  if (!tiles) return [];
  const subs = tiles.url.includes("{s}") ? [...tiles.subdomains] : [""];
  return [...new Set(subs.map((s) => new URL(tiles.url.replaceAll("{s}", s).replace(/\{[a-z]+\}/g, "0")).origin))];
}

/**
 * Strict by default: the console loads only its own scripts, styles and API (no CDN, no online map
 * tiles); no referrer (the console's URLs carry no secret since it signs in by cookie, but a machine's stream URL may).
 * A base map (AGRILUME_MAP_TILE_URL) adds its tile hosts to `img-src`, and nothing else.
 */
export function consoleHeaders(imageOrigins: readonly string[] = []) {
  const img = ["'self'", "data:", "blob:", ...imageOrigins].join(" ");
  return {
    "content-security-policy": `default-src 'self'; script-src 'self'; style-src 'self'; img-src ${img}; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'`,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
  };
}

const NOT_BUILT = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Agrilume</title></head>
<body><main>
<h1>控制台尚未构建</h1><p>在项目目录运行 <code>npm install</code>（或 <code>npm run build:web</code>），然后重启服务。API 仍可使用：<a href="/docs">/docs</a>。</p>
<h1 lang="en">The console is not built</h1><p lang="en">Run <code>npm install</code> (or <code>npm run build:web</code>) in the project directory, then restart the service. The API works meanwhile: <a href="/docs">/docs</a>.</p>
</main></body></html>`;

/** Serves the web console at `/` (public files; every API call it makes needs a key). */
export async function registerConsole(app: Api, dir = CONSOLE_DIR, imageOrigins: readonly string[] = []): Promise<{ built: boolean }> {
  const headers = consoleHeaders(imageOrigins);
  if (!existsSync(join(dir, "index.html"))) {
    app.get("/", { config: { roles: "public" }, schema: { hide: true } }, async (_req, reply) =>
      reply.status(503).headers(headers).type("text/html; charset=utf-8").send(NOT_BUILT),
    );
    return { built: false };
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: "/",
    wildcard: false,
    index: "index.html",
    // Built file names carry a content hash: cache them for good; the page itself always revalidates.
    setHeaders: (res, path) => {
      for (const [k, v] of Object.entries(headers)) res.header(k, v);
      res.header("cache-control", path.includes(`${join("dist", "assets")}`) ? "public, max-age=31536000, immutable" : "no-cache");
    },
  });
  return { built: true };
}
