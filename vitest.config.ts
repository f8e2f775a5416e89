import { defineConfig } from "vitest/config";

// Unit tests (*.test.ts) are pure and fast; integration tests (*.int.test.ts) start their own
// nats-server on a free loopback port. Both run under `npm test`.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
