/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  rootDir: __dirname,
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.[tj]s$": ["ts-jest", { tsconfig: "tsconfig.test.json" }],
  },
  // ESM-only packages that tests or the migration engine load; ts-jest turns them into CommonJS.
  transformIgnorePatterns: ["/node_modules/(?!(jose|@prisma/schema-engine-wasm)/)"],
  // The generated Prisma client imports its siblings as `./x.js`; resolve them to the .ts sources.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1", "^keyway/subgraph$": "<rootDir>/src/subgraph/index.ts" },
  setupFiles: ["reflect-metadata"],
  globalSetup: "<rootDir>/test/global-setup.ts",
  // Searches the logs of every server the run started for the secrets it handled.
  globalTeardown: "<rootDir>/test/global-teardown.ts",
  testTimeout: 60000,
  maxWorkers: 2,
};
