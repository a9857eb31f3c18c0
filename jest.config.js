/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  rootDir: __dirname,
  testMatch: ["**/*.test.ts"],
  // `npm test` runs jest with --experimental-vm-modules because PGlite's CommonJS build
  // calls import("fs/promises") and the like, which jest's VM serves only with that flag.
  // With it, Node 24.9+ lets jest load a "type": "module" package's files as ES modules
  // even when required; Node 20 loads them as CommonJS. useESM makes ts-jest emit
  // whichever of the two jest asks for, instead of CommonJS into an ES module.
  transform: {
    "^.+\\.[tj]s$": ["ts-jest", { tsconfig: "tsconfig.test.json", useESM: true }],
  },
  // ESM-only packages that tests or the migration engine load; where jest loads them as
  // CommonJS, ts-jest has to turn them into CommonJS.
  transformIgnorePatterns: ["/node_modules/(?!(jose|@prisma/schema-engine-wasm|@scure/base|@noble/hashes)/)"],
  // The generated Prisma client imports its siblings as `./x.js`; resolve them to the .ts sources.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1", "^keyway/subgraph$": "<rootDir>/src/subgraph/index.ts" },
  setupFiles: ["reflect-metadata"],
  globalSetup: "<rootDir>/test/global-setup.ts",
  // Searches the logs of every server the run started for the secrets it handled.
  globalTeardown: "<rootDir>/test/global-teardown.ts",
  testTimeout: 60000,
  maxWorkers: 2,
};
