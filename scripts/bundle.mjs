// Bundles the compiled CLI (dist/src/cli.js, tsc's output) into dist/bundle/, which bin/nommer
// loads. Run after tsc by `npm run build`, `prepare` and `npm test`.
//
// Why: Node 20 has no module compile cache, and its ESM loader pays per module. feederd loaded ~460
// modules before it was ready and `nommer status` ~230 (zod alone is 95); every worker and CLI
// command a user or a test starts paid that. Bundled, feederd's start to ready took ~35% less CPU
// and `status --json` ~25% less (medians of alternating runs, 2026-12).
//
// ESM with code splitting: every `import()` of the sources stays its own chunk, loaded only when
// that path runs, so `nommer --version` still loads no command and `encode` no AWS SDK.
// dist/bundle-meta.json (outside the packed folder) says which modules each chunk holds: the
// start-up tests read it to name what a traced process loaded (test/helpers/module-trace.ts).
import { build } from 'esbuild';
import { existsSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');

/**
 * Packages left to Node's own loader, from the package's node_modules:
 * - better-sqlite3 finds its native addon relative to its own files;
 * - what a package require()s only inside a function (cosmiconfig's loaders for YAML, TypeScript
 *   and a JSON error's code frame; fastify's JSON-schema compilers, which nommer's routes replace
 *   with zod) would sit in an eagerly loaded chunk, parsed by every process that never calls it.
 *   External, it loads when called, as before;
 * - undici, which nommer imports with `await import('undici')` for URL inputs: esbuild makes a
 *   CommonJS package reached only that way a chunk with a default export alone, so the named
 *   exports nommer takes from it (Agent, buildConnector, fetch) would be undefined. Node's own
 *   loader gives them, and loads it only for a URL, as before;
 * - ink, and react with it (one React for ink and nommer's views, or hooks break): with DEV=true in
 *   the environment ink reads its package.json beside its own module URL, which in a bundle names
 *   dist/package.json, so the live view failed to start. Only the live view loads them.
 * ffmpeg-static needs no entry: nommer require()s it through createRequire, which esbuild leaves
 * alone, and it must not be bundled (it locates its binary from its own folder).
 */
const external = [
  'better-sqlite3',
  'typescript',
  'js-yaml',
  'parse-json',
  'import-fresh',
  '@fastify/ajv-compiler',
  '@fastify/fast-json-stringify-compiler',
  'undici',
  'ink',
  'react',
];

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli.js'],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  // Bundled CommonJS calls require() for Node's built-ins (and the externals above); an ES module
  // has none of its own.
  banner: {
    js: "import { createRequire as __nommerCreateRequire } from 'node:module'; const require = __nommerCreateRequire(import.meta.url);",
  },
  metafile: true,
  logLevel: 'warning',
});
const { inputs, outputs } = result.metafile;
/** Fails the build and removes the bundle (bin/nommer then runs dist/src). */
function refuse(why) {
  rmSync(outdir, { recursive: true, force: true });
  console.error(`bundle: ${why}`);
  process.exit(1);
}
// A CommonJS package reached by import() becomes such a default-only chunk (see undici above).
const cjsChunks = Object.values(outputs)
  .map((o) => o.entryPoint)
  .filter((entry) => entry !== undefined && inputs[entry]?.format === 'cjs');
if (cjsChunks.length > 0) refuse(`import() of CommonJS ${cjsChunks.join(', ')}: add the package to \`external\``);
// `import * as z from 'zod'` lets esbuild keep only the zod nommer calls (~200 KB); one
// `import { z } from 'zod'` anywhere keeps all of it (~740 KB, every error-message locale), which
// every process parses at start: `nommer --version` took 0.21 CPU-s with it and 0.16 without.
const locales = new Set(
  Object.values(outputs).flatMap((o) =>
    Object.entries(o.inputs)
      .filter(([input, { bytesInOutput }]) => bytesInOutput > 0 && /\/zod\/v4\/locales\/(?!en\.js)/.test(input))
      .map(([input]) => input),
  ),
);
if (locales.size > 0) refuse(`zod's ${locales.size} locales are in it: import zod as \`import * as z from 'zod'\``);
// An external is looked up from dist/bundle, not from the module that imports it: both must find
// the same copy (they do while npm hoists it; a nested other version would be silently swapped).
const swapped = Object.entries(inputs).flatMap(([input, { imports }]) =>
  imports
    .filter((i) => i.external && !isBuiltin(i.path))
    .map((i) => packageName(i.path))
    .filter((name) => packageDir(resolve(root, input), name) !== packageDir(join(outdir, 'cli.js'), name))
    .map((name) => `${name} (imported by ${input})`),
);
if (swapped.length > 0) refuse(`from dist/bundle these resolve to another copy: ${[...new Set(swapped)].join(', ')}`);
writeFileSync(join(root, 'dist', 'bundle-meta.json'), JSON.stringify(result.metafile));

/** `@scope/name` or `name` of a bare specifier such as `react/jsx-runtime`. */
function packageName(specifier) {
  const parts = specifier.split('/');
  return parts.slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
}

/** The folder of package `name` that Node finds from module `from`: the nearest node_modules/name. */
function packageDir(from, name) {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(candidate)) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}
