import { defineConfig } from "vitest/config";

// Opt-in compatibility checks against public Codex packages (downloaded into .cache/ on first run).
export default defineConfig({
  test: {
    include: ["test/interop/**/*.interop.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    pool: "forks",
  },
});
