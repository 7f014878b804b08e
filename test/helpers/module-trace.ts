// `NODE_OPTIONS=--import <this>` makes a nommer process (and the workers it starts) append every
// module it loads, ESM and CommonJS, to $NOMMER_MODULE_TRACE/<pid>.txt: what start-up costs is
// mostly what it loads, so a test can say what a command must not load.
import { appendFileSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { join } from 'node:path';
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

/** The modules each traced process loaded (one list per process), from the trace folder. */
export function tracedModules(traceDir: string): string[][] {
  return readdirSync(traceDir)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => readFileSync(join(traceDir, f), 'utf8').split('\n').filter(Boolean));
}

/** The packages (node_modules/NAME or @scope/NAME) among `modules`, once each. */
export function packagesIn(modules: readonly string[]): string[] {
  const names = modules.map((m) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(m)?.[1]).filter((n) => n !== undefined);
  return [...new Set(names)].sort();
}
