/**
 * The structure rules (docs/ARCHITECTURE.md "Layout"), checked by `npm run lint` and so by CI.
 *
 * Layers, lowest first; a folder may import its own layer's folder and the layers below it, never above:
 *   devices/ (the device contract)      imports nothing of the service
 *   src/platform                         config, log, i18n, clock, metrics, scheduler, workers
 *   src/storage                          database handle, migrations, telemetry stores
 *   src/access, src/registry             roles, keys, scope; the device registry
 *   src/ingest                           pipeline, write-ahead log, store writer, presence, rejects
 *   src/transport, src/http              brokers and command bus; the fastify server
 *   features                             streetlights, blending, alerts, verification, fleet, system
 *   composition                          src/app.ts, src/state.ts, src/messages.ts, src/main.ts and the entry file
 * A feature imports another feature only through that feature's index.ts (its declared interface).
 */
const FEATURES = "(streetlights|blending|alerts|verification|fleet|system|fieldwork)";
const layer = (name, folders, allowed) => ({
  name: `layer-${name}`,
  comment: `${folders} may import only ${allowed.join(", ")} (and itself)`,
  severity: "error",
  from: { path: `^src/${folders}/` },
  to: { path: "^(src|devices)/", pathNot: [`^src/${folders}/`, ...allowed.map((a) => `^${a}`)] },
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No import cycles (a cycle of type-only imports is a cycle in the design too).",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "src-not-to-tools",
      comment: "The service never imports tests, the harness, benchmarks, simulators or scripts.",
      severity: "error",
      from: { path: "^(src|devices)/" },
      to: { path: "^(test|harness|bench|simulators|scripts|web)/" },
    },
    {
      name: "contract-is-standalone",
      comment: "devices/ is what a device maker implements: it imports nothing of the service.",
      severity: "error",
      from: { path: "^devices/" },
      to: { path: "^src/" },
    },
    layer("platform", "platform", ["devices/"]),
    layer("storage", "storage", ["devices/", "src/platform/"]),
    layer("access", "access", ["devices/", "src/platform/", "src/storage/"]),
    layer("registry", "registry", ["devices/", "src/platform/", "src/storage/"]),
    layer("ingest", "ingest", ["devices/", "src/platform/", "src/storage/", "src/registry/"]),
    layer("transport", "transport", ["devices/", "src/platform/", "src/storage/", "src/registry/", "src/ingest/", "src/access/"]),
    layer("http", "http", ["devices/", "src/platform/", "src/access/"]),
    {
      name: "features-through-interfaces",
      comment: "A feature imports another feature only through its index.ts (the interface it declares for others).",
      severity: "error",
      from: { path: `^src/${FEATURES}/` },
      to: { path: `^src/${FEATURES}/`, pathNot: [`^src/$1/`, `^src/${FEATURES}/index\\.ts$`] },
    },
    {
      name: "nothing-imports-composition",
      comment: "The composition root builds everything; nothing below it imports it.",
      severity: "error",
      from: { path: "^(src/[^/]+/|devices/)" },
      to: { path: "^src/(app|state|main|server|messages)\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".tsx", ".js"] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
