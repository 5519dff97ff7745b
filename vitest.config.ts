import { defineConfig } from "vitest/config";

// Workers load the compiled dist/ (tsx cannot run TypeScript inside worker threads on Node 20),
// so `npm test` builds first (the pretest script).
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Opt-in: `npm run test:interop` (downloads public Codex packages).
    exclude: ["test/interop/**", "node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
