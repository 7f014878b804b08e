// `NODE_OPTIONS=--import <this>` makes a nommer process (and the workers it starts) append every
// module it loads, ESM and CommonJS, to $NOMMER_MODULE_TRACE/<pid>.txt: what start-up costs is
// mostly what it loads, so a test can say what a command must not load. A process that runs the
// bundle (scripts/bundle.mjs) loads chunks; each chunk stands for the modules it holds, read from
// the bundle's metafile, so the same claims hold of either build.
import { appendFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This file, for NODE_OPTIONS. */
export const MODULE_TRACE = fileURLToPath(import.meta.url);

const dir = process.env.NOMMER_MODULE_TRACE;
if (dir) {
  const file = join(dir, `${process.pid}.txt`);
  register('./module-trace-hooks.js', import.meta.url, { data: { file } });
  // require() of CommonJS packages (fastify, better-sqlite3, the AWS SDK) bypasses the ESM hooks.
  const Module = createRequire(import.meta.url)('node:module') as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
  };
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    const path = resolveFilename.call(this, request, ...rest);
    if (path.includes('/')) appendFileSync(file, `${path}\n`);
    return path;
  };
}

/** The package root (this file is compiled to dist/test/helpers). */
const ROOT = join(dirname(MODULE_TRACE), '..', '..', '..');

/** Each chunk of the bundle (absolute path) -> the absolute paths of the modules it holds. */
function bundleChunks(): Map<string, string[]> {
  const meta = join(ROOT, 'dist', 'bundle-meta.json');
  if (!existsSync(meta)) return new Map();
  const { outputs } = JSON.parse(readFileSync(meta, 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, unknown> }>;
  };
  return new Map(
    Object.entries(outputs).map(([chunk, o]) => [
      resolve(ROOT, chunk),
      Object.keys(o.inputs).map((i) => resolve(ROOT, i)),
    ]),
  );
}

/**
 * The modules each traced process loaded (one list per process), from the trace folder. A chunk of
 * the bundle counts as every module in it: all of them are parsed when it loads, and its ES
 * modules run, so this names no less than the process paid for.
 */
export function tracedModules(traceDir: string): string[][] {
  const chunks = bundleChunks();
  const bundleDir = join(ROOT, 'dist', 'bundle');
  const expand = (m: string) => {
    const path = m.startsWith('file:') ? fileURLToPath(m) : m;
    const inputs = chunks.get(path);
    if (inputs) return inputs;
    // A chunk the metafile does not name would hide what it holds: the two are from different builds.
    if (path.startsWith(`${bundleDir}/`)) throw new Error(`${path} is not in dist/bundle-meta.json: rebuild`);
    return [m];
  };
  return readdirSync(traceDir)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => readFileSync(join(traceDir, f), 'utf8').split('\n').filter(Boolean).flatMap(expand));
}

/** The packages (node_modules/NAME or @scope/NAME) among `modules`, once each. */
export function packagesIn(modules: readonly string[]): string[] {
  const names = modules.map((m) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(m)?.[1]).filter((n) => n !== undefined);
  return [...new Set(names)].sort();
}
