// Typed lint: floating promises are bugs in an actor runtime (a lost promise is a lost event).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", ".cache/", ".tmp/", "test/fixtures/", "eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      // The bench's model provider and the build scripts are plain JavaScript: linted outside the tsconfig.
      parserOptions: { projectService: { allowDefaultProject: ["bench/lib/*.mjs", "workers/build/*.mjs"] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  // The worker entry and its loader are CommonJS (a thread never sets up the ESM loader): `import x = require()`.
  { files: ["workers/*.cts"], rules: { "@typescript-eslint/no-require-imports": "off" } },
);
