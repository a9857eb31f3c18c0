// docs/api.md is the reference users get with keyway; these checks keep it true
// to the code: its schema is the emitted one, its configuration table lists
// exactly what src/config.ts reads, and no document users get points outside
// the repository.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { tmpdir } from "node:os";
import { loadConfig } from "../../src/config";

const root = path.resolve(__dirname, "../..");
const read = (file: string) => readFileSync(path.join(root, file), "utf8");
const reference = read("docs/api.md");

/** The schema as `npm run generate` emits it, without the leading comment that says it is generated. */
function emittedSchema(): string {
  const lines = read("schema.graphql").split("\n");
  while (lines[0]?.startsWith("#")) lines.shift();
  return lines.join("\n").trim();
}

/** Lines only in `actual` as `- `, only in `expected` as `+ `, in order (a longest-common-subsequence diff). */
function lineDiff(actual: string, expected: string): string {
  const a = actual.split("\n");
  const b = expected.split("\n");
  const common = a.map(() => new Array<number>(b.length + 1).fill(0));
  common.push(new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--)
      common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < b.length && (i === a.length || common[i][j + 1] >= common[i + 1][j])) {
      out.push(`+ ${b[j++]}`);
    } else {
      out.push(`- ${a[i++]}`);
    }
  }
  return out.join("\n");
}

it("docs/api.md shows exactly the emitted schema.graphql", () => {
  const blocks = [...reference.matchAll(/^```graphql\n([\s\S]*?)^```$/gm)].map((match) => match[1].trim());
  expect(blocks).toHaveLength(1);
  const documented = blocks[0];
  const emitted = emittedSchema();
  if (documented !== emitted) {
    throw new Error(
      "The graphql block of docs/api.md differs from schema.graphql (npm run generate). " +
        "Replace the block with schema.graphql minus its first comment line.\n" +
        "- only in docs/api.md, + only in schema.graphql:\n" +
        lineDiff(documented, emitted),
    );
  }
});

describe("configuration", () => {
  /** Every variable src/config.ts reads: through its read()/text() helpers or from env directly. */
  const source = read("src/config.ts");
  const readByConfig = new Set(
    [
      ...source.matchAll(/\b(?:read|text)(?:<[^>]*>)?\(\s*"([A-Z][A-Z0-9_]*)"/g),
      ...source.matchAll(/\benv(?:\.|\[")([A-Z][A-Z0-9_]*)/g),
    ].map((match) => match[1]),
  );
  const configurationSection = reference.slice(reference.indexOf("## Configuration"));
  const documented = new Set(
    [...configurationSection.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((match) => match[1]),
  );

  it("finds what it checks (the patterns above still match the code and the table)", () => {
    for (const name of ["NODE_ENV", "PORT", "DATABASE_URL", "JWT_PRIVATE_KEY_FILE", "TRUST_PROXY", "METRICS_HOST"]) {
      expect({ name, read: readByConfig.has(name), documented: documented.has(name) }).toEqual({
        name,
        read: true,
        documented: true,
      });
    }
  });

  it("reads, at run time, no variable the patterns above miss (development and production)", () => {
    const readAtRunTime = new Set<string>();
    for (const base of [{}, { NODE_ENV: "production" }]) {
      const env = new Proxy<NodeJS.ProcessEnv>(base, {
        get(target, name) {
          if (typeof name === "string") readAtRunTime.add(name);
          return Reflect.get(target, name) as unknown;
        },
        has(target, name) {
          if (typeof name === "string") readAtRunTime.add(name);
          return Reflect.has(target, name);
        },
      });
      try {
        loadConfig(env, tmpdir());
      } catch {
        // Production refuses the development defaults; what it read before refusing counts.
      }
    }
    const variables = [...readAtRunTime].filter((name) => /^[A-Z][A-Z0-9_]*$/.test(name));
    expect(variables.length).toBeGreaterThan(20);
    expect({ missedByPatterns: variables.filter((name) => !readByConfig.has(name)).sort() }).toEqual({
      missedByPatterns: [],
    });
  });

  it("documents every variable src/config.ts reads, and none it does not", () => {
    expect({ undocumented: [...readByConfig].filter((name) => !documented.has(name)).sort() }).toEqual({
      undocumented: [],
    });
    expect({ notRead: [...documented].filter((name) => !readByConfig.has(name)).sort() }).toEqual({ notRead: [] });
  });
});

it("README.md and docs/ point nowhere outside the repository", () => {
  const files = [
    "README.md",
    ...readdirSync(path.join(root, "docs"))
      .filter((file) => file.endsWith(".md"))
      .map((file) => `docs/${file}`),
  ];
  const problems: string[] = [];
  for (const file of files) {
    const text = read(file);
    // Links `[text](target)` and reference definitions `[name]: target`.
    const targets = [
      ...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g),
      ...text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm),
    ].map((match) => match[1]);
    const outside = (target: string) =>
      path.relative(root, path.resolve(path.dirname(path.join(root, file)), target)).startsWith("..");
    for (const target of targets) {
      if (/^(?:[a-z][a-z0-9+.-]*:|#)/i.test(target)) continue; // https:, mailto:, in-page anchors
      const local = decodeURIComponent(target.split("#")[0]);
      if (outside(local)) problems.push(`${file}: links ${target}, outside the repository`);
      else if (!existsSync(path.resolve(path.dirname(path.join(root, file)), local)))
        problems.push(`${file}: links ${target}, which does not exist`);
    }
    // Named in prose or code as well as linked: users get none of the files beside the repository.
    for (const match of text.matchAll(/(?:^|[\s(`"'[])((?:\.\.\/)+[^\s)`"']*)/gm)) {
      if (outside(match[1])) problems.push(`${file}: names ${match[1]}, outside the repository`);
    }
  }
  expect(problems).toEqual([]);
});
