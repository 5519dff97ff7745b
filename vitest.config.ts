import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { defineConfig } from "vitest/config";

// Commands the tests run (and kill) get an empty home: a developer's login profile (version managers that
// rehash on every login shell) would slow them down, and a login shell killed mid-way can leave its locks.
const testHome = mkdtempSync(path.join(tmpdir(), "llmx-test-home-"));

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
    env: { HOME: testHome },
  },
});
