import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real brokers, stores and processes; two cores run them one file at a time.
    fileParallelism: false,
    reporters: ["default"],
  },
});
