import { defineConfig } from "vitest/config";

// Workers load the compiled dist/ (tsx cannot run TypeScript inside worker threads on Node 20),
// so `npm test` builds first (the pretest script).
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
