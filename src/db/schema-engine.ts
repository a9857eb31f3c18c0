// Prisma's schema engine as WebAssembly (@prisma/schema-engine-wasm): the migrate
// and diff logic of the Prisma CLI, minus the native binary it downloads.
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";
import type { SchemaEngine, SchemaFilter } from "@prisma/schema-engine-wasm" with { "resolution-mode": "import" };

export type { DiffTarget, MigrationList, SchemaEngine } from "@prisma/schema-engine-wasm" with {
  "resolution-mode": "import",
};

// typescript-eslint types the import attributes of an import type as an error value.
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
type SchemaEngineModule = typeof import("@prisma/schema-engine-wasm", { with: { "resolution-mode": "import" } });

// Neither lib ES2022 nor @types/node 20 declares the WebAssembly global.
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: WasmExports } }>;
};

interface WasmExports {
  __wbindgen_start(): void;
}

/** keyway manages every table and enum in its schema. */
export const NO_FILTERS: SchemaFilter = { externalTables: [], externalEnums: [] };

let loading: Promise<SchemaEngineModule> | undefined;
let runningEngines = 0;
const engineTimers = new Set<NodeJS.Timeout>();

// The package entry imports the .wasm file as an ES module, which Node 20 cannot
// load, and its "exports" hide the file; so the bindings are wired by hand. The
// bindings keep the instance in module state, so one instance serves the process.
async function loadSchemaEngineModule(): Promise<SchemaEngineModule> {
  const dir = path.dirname(require.resolve("@prisma/schema-engine-wasm"));
  const bindings = (await import(path.join(dir, "schema_engine_bg.js"))) as SchemaEngineModule & {
    __wbg_set_wasm(exports: WasmExports): void;
  };
  const bytes = await readFile(path.join(dir, "schema_engine_bg.wasm"));
  const imports = { "./schema_engine_bg.js": withTrackedTimers(bindings) };
  const { instance } = await WebAssembly.instantiate(bytes, imports);
  bindings.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start();
  return bindings;
}

// The engine arms timers it never clears (a 10 s one around its migration lock),
// which would hold a finished process open for that long. Timers still pending
// when no engine is running belong to freed engines and are cleared.
function withTrackedTimers(bindings: object): Record<string, unknown> {
  const imports: Record<string, unknown> = { ...bindings };
  for (const name of Object.keys(imports).filter((key) => key.startsWith("__wbg_setTimeout_"))) {
    imports[name] = (callback: () => void, ms: number) => {
      const timer = setTimeout(() => {
        engineTimers.delete(timer);
        callback();
      }, ms >>> 0);
      engineTimers.add(timer);
      return timer;
    };
  }
  return imports;
}

function clearEngineTimers(): void {
  engineTimers.forEach((timer) => clearTimeout(timer));
  engineTimers.clear();
}

function getSchemaEngineModule(): Promise<SchemaEngineModule> {
  loading ??= loadSchemaEngineModule().catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

// The engine disposes shadow connections but not its main one, and adapter-pg
// adds a pool listener per connection, so main connections are disposed here.
function trackConnections(factory: SqlMigrationAwareDriverAdapterFactory) {
  const connections: SqlDriverAdapter[] = [];
  const tracked: SqlMigrationAwareDriverAdapterFactory = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    async connect() {
      const connection = await factory.connect();
      connections.push(connection);
      return connection;
    },
    connectToShadowDb: () => factory.connectToShadowDb(),
  };
  const disposeAll = () => Promise.all(connections.map((connection) => connection.dispose()));
  return { tracked, disposeAll };
}

/** Runs `work` with a schema engine connected through `adapterFactory`, then frees it. */
export async function withSchemaEngine<T>(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const wasm = await getSchemaEngineModule();
  const { tracked, disposeAll } = trackConnections(adapterFactory);
  runningEngines += 1;
  try {
    // The engine logs through this callback; its info-level chatter is not ours to print.
    const ignoreLog = () => {};
    const bound = bindMigrationAwareSqlAdapterFactory(tracked);
    const engine = await wasm.SchemaEngine.new({ datamodels: undefined }, ignoreLog, bound);
    try {
      return await work(engine);
    } finally {
      engine.free();
    }
  } finally {
    runningEngines -= 1;
    if (runningEngines === 0) clearEngineTimers();
    await disposeAll();
  }
}
