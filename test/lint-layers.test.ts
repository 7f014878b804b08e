// The dependency rules `npm run lint` enforces (.dependency-cruiser.cjs), run with the project's
// own config on a small file tree that breaks each of them once, beside imports they allow: every
// rule must fire exactly where it is broken and nowhere else, so a rule deleted, renamed or
// loosened until it no longer bites fails here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { tempDir } from './helpers/media.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

const d = tempDir('nommer-lint-');
after(() => d.cleanup());

/** path -> source. `.js` specifiers resolve to the `.ts` files, as in src/. */
const TREE: Record<string, string> = {
  // The core importing a feature directly; and the message schema reaching one through a registry.
  'src/jobs/state.ts': "import { rungs } from '../abr/ladder.js';\nexport const n = rungs;\n",
  'src/messages.ts': "import { kinds } from './kinds/registry.js';\nexport const all = kinds;\n",
  'src/kinds/registry.ts': "import { run } from '../abr/worker-task.js';\nexport const kinds = [run];\n",
  // The core doing I/O; and what it may import: itself, zod, a preset's schema.
  'src/ports/fleet.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
  'src/ports/queue.ts':
    "import { z } from 'zod';\nimport type { Preset } from '../presets/schema.js';\nimport { n } from '../jobs/types.js';\nexport type Q = Preset;\nexport const q = z.number().max(n);\n",
  'src/jobs/types.ts': 'export const n = 1;\n',
  'src/presets/schema.ts': 'export type Preset = { name: string };\n',
  // Features.
  'src/abr/ladder.ts': 'export const rungs = [240];\n',
  'src/abr/worker-task.ts': "import { ffmpeg } from '../ffmpeg/run.js';\nexport const run = ffmpeg;\n",
  'src/abr/package.ts': "import { plan } from '../chunked/plan.js';\nexport const p = plan;\n",
  'src/chunked/plan.ts': 'export const plan = 1;\n',
  'src/ffmpeg/run.ts': 'export const ffmpeg = 1;\n',
  'src/scratch.ts':
    "import { plan } from './chunked/plan.js';\nimport { rungs } from './abr/ladder.js';\nexport const s = [plan, rungs];\n",
  // The orchestrator: importing the worker; loading an encoder through cleanup; a view.
  'src/orchestrator/watchdog.ts': "import { lease } from '../worker/lease.js';\nexport const w = lease;\n",
  'src/orchestrator/cleanup.ts': "import { run } from '../abr/worker-task.js';\nexport const c = run;\n",
  'src/orchestrator/api.ts':
    "import { fmt } from '../tui/format.js';\nimport { s } from '../scratch.js';\nexport const a = [fmt, s];\n",
  'src/worker/lease.ts': 'export const lease = 1;\n',
  // SDKs: in an adapter (allowed) and outside (not).
  'src/adapters/aws/spot.ts': "import { EC2Client } from '@aws-sdk/client-ec2';\nexport const c = EC2Client;\n",
  'src/fleet/spot.ts': "import { EC2Client } from '@aws-sdk/client-ec2';\nexport const c = EC2Client;\n",
  'src/cost/db.ts': "import type { Database } from 'better-sqlite3';\nexport type D = Database;\n",
  // Ink: in a view (allowed), elsewhere in tui/ and in a feature (not); tui/ from a command (allowed).
  'src/tui/view.tsx': "import { Text } from 'ink';\nexport const v = Text;\n",
  'src/tui/format.ts': "import { Box } from 'ink';\nexport const fmt = Box;\n",
  'src/commands/status.ts': "import { v } from '../tui/view.js';\nexport const st = v;\n",
  'src/cli.ts': "import { st } from './commands/status.js';\nexport const cli = st;\n",
  'src/client/follow.ts': "import { st } from '../commands/status.js';\nexport const f = st;\n",
  // A runtime cycle; and one closed only by a type-only import (allowed).
  'src/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
  'src/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
  'src/c.ts': "import type { D } from './d.js';\nexport type C = D | 1;\n",
  'src/d.ts': "import type { C } from './c.js';\nexport type D = C | 2;\n",
};

/** Every violation the rules must report on TREE: rule, the importing file, the imported one. */
const EXPECTED = [
  ['core-imports-no-feature-or-role', 'src/jobs/state.ts', 'src/abr/ladder.ts'],
  ['core-reaches-no-feature-or-role', 'src/jobs/state.ts', 'src/abr/ladder.ts'],
  ['core-reaches-no-feature-or-role', 'src/messages.ts', 'src/abr/worker-task.ts'],
  ['core-reaches-no-feature-or-role', 'src/messages.ts', 'src/ffmpeg/run.ts'],
  ['core-does-no-io', 'src/ports/fleet.ts', 'fs'],
  ['orchestrator-and-worker-apart', 'src/orchestrator/watchdog.ts', 'src/worker/lease.ts'],
  ['feederd-loads-no-encoder', 'src/orchestrator/cleanup.ts', 'src/ffmpeg/run.ts'],
  ['feederd-loads-no-encoder', 'src/orchestrator/watchdog.ts', 'src/worker/lease.ts'],
  ['sdk-only-in-adapters', 'src/fleet/spot.ts', '@aws-sdk/client-ec2'],
  ['sdk-only-in-adapters', 'src/cost/db.ts', 'better-sqlite3'],
  ['ink-only-in-views', 'src/tui/format.ts', 'ink'],
  ['views-only-from-commands', 'src/orchestrator/api.ts', 'src/tui/format.ts'],
  ['commands-only-from-cli', 'src/client/follow.ts', 'src/commands/status.ts'],
  ['abr-and-chunked-apart', 'src/abr/package.ts', 'src/chunked/plan.ts'],
  // A cycle is reported once, at its first file.
  ['no-runtime-cycle', 'src/a.ts', 'src/b.ts'],
]
  .map((v) => v.join(' '))
  .sort();

const depcruiseOutput = z.object({
  summary: z.object({
    violations: z.array(
      z.object({ rule: z.object({ name: z.string(), severity: z.string() }), from: z.string(), to: z.string() }),
    ),
  }),
  modules: z.array(z.object({ source: z.string(), dependencies: z.array(z.object({ resolved: z.string() })) })),
});

function writeTree(dir: string): void {
  for (const [path, text] of Object.entries(TREE)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  writeFileSync(join(dir, 'tsconfig.json'), readFileSync(join(ROOT, 'tsconfig.json')));
  // The SDKs and ink resolve to the project's own packages, as they do for src/.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
}

test('npm run lint runs the dependency rules', () => {
  const pkg = z
    .object({ scripts: z.object({ lint: z.string() }) })
    .parse(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')));
  assert.match(pkg.scripts.lint, /\bdepcruise --config \.dependency-cruiser\.cjs src\b/);
});

/** depcruise with the project's config on TREE, as `npm run lint` runs it (plus any extra arguments). */
function depcruise(dir: string, ...extra: string[]) {
  const r = spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, ...extra, 'src'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 25_000,
  });
  assert.equal(r.error, undefined);
  return r;
}

test('each dependency rule fails the lint exactly where it is broken', () => {
  writeTree(d.path);
  const out = depcruiseOutput.parse(JSON.parse(depcruise(d.path, '--output-type', 'json').stdout));
  // Every file was found and every import resolved (a typo in TREE would make a rule look broken).
  assert.equal(out.modules.filter((m) => m.source.startsWith('src/')).length, Object.keys(TREE).length);
  const reported = out.summary.violations.map((v) => {
    const to = v.to.replace(/^.*node_modules\/(@types\/)?((@[^/]+\/)?[^/]+).*$/, '$2');
    return [v.rule.name, v.from, to].join(' ');
  });
  assert.deepEqual([...new Set(reported)].sort(), EXPECTED);
  assert.ok(
    out.summary.violations.every((v) => v.rule.severity === 'error'),
    'every rule is an error: a warning would not fail the lint',
  );
  // The lint's own output: its exit status counts the errors, so `npm run lint` fails.
  const lint = depcruise(d.path);
  assert.equal(lint.status, out.summary.violations.length, lint.stdout);
  assert.match(lint.stdout, new RegExp(`${out.summary.violations.length} dependency violations \\(\\d+ errors`));
});
