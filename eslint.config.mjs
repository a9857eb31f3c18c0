// One linter for the whole repository. TypeScript is linted with
// typescript-eslint's type-checked rules: in an async server a promise nobody
// awaits or a promise handed to a callback that ignores it is a lost error.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    // Generated code says so in its first line; it is checked by regenerating, not by linting.
    ignores: [
      "node_modules/",
      "**/node_modules/",
      "dist/",
      "dist-examples/",
      "coverage/",
      "data/",
      "test-artifacts/",
      "bench/profiles/",
      "src/generated/",
      "src/client/operations.ts",
      "test/generated/",
    ],
  },
  js.configs.recommended,
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // An async function that does not await still turns a throw into a rejection, which is
      // what a method implementing a promise-returning interface should do.
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    // @types/jest types the asymmetric matchers (expect.any, expect.objectContaining, …) and
    // parsed response bodies as `any`, and tests assert on exactly those values at run time;
    // the no-unsafe-* family would flag every such assertion. Promise rules stay on here too.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
    },
  },
  {
    files: ["**/*.{js,mjs,cjs}"],
    languageOptions: { ecmaVersion: 2024, globals: { ...globals.node } },
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["**/*.cjs", "jest.config.js"],
    languageOptions: { sourceType: "commonjs" },
  },
  {
    // The demo is browser code with its own tsconfig (DOM, no Node types).
    files: ["src/demo/**/*.ts"],
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: { projectService: false, project: "./tsconfig.demo.json", tsconfigRootDir: import.meta.dirname },
    },
  },
);
