// Which build bin/nommer runs: the bundle (scripts/bundle.mjs) while it is at least as new as the
// last compile, the modules tsc wrote once a `tsc` has run after it, and one clear line when
// nothing is built. Run against a copy of bin/nommer beside stand-in builds that say which ran.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/media.js';
import { NOMMER_BIN } from './helpers/cli.js';

const d = tempDir();
after(() => d.cleanup());
const pkg = d.path;
mkdirSync(join(pkg, 'bin'));
copyFileSync(NOMMER_BIN, join(pkg, 'bin', 'nommer'));
writeFileSync(join(pkg, 'package.json'), '{"type": "module"}\n');

/** A stand-in cli.js at `rel` whose main prints `name`, last modified at `time` (seconds). */
function build(rel: string, name: string, time: number) {
  mkdirSync(join(pkg, rel, '..'), { recursive: true });
  writeFileSync(join(pkg, rel), `export async function main() { console.log(${JSON.stringify(name)}); return 0; }\n`);
  utimesSync(join(pkg, rel), time, time);
}

function touch(rel: string, time: number) {
  writeFileSync(join(pkg, rel), '');
  utimesSync(join(pkg, rel), time, time);
}

function run() {
  const r = spawnSync(process.execPath, [join(pkg, 'bin', 'nommer')], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}

test('bin/nommer runs the bundle while it is current, the compiled modules after a later tsc, and says when nothing is built', () => {
  assert.deepEqual(run(), {
    code: 1,
    out: '',
    err: 'nommer: not built yet: run `npm run build` in the package folder',
  });

  build('dist/src/cli.js', 'compiled', 1000);
  assert.equal(run().out, 'compiled', 'no bundle: the compiled modules');

  touch('dist/.tsbuildinfo', 1000);
  build('dist/bundle/cli.js', 'bundle', 1001);
  assert.equal(run().out, 'bundle', 'bundled after the compile');

  touch('dist/.tsbuildinfo', 1002);
  assert.equal(run().out, 'compiled', 'a tsc after the bundle: its modules, not the older bundle');

  // An installed package has no .tsbuildinfo (it is not packed): the bundle it was built with.
  rmSync(join(pkg, 'dist', '.tsbuildinfo'));
  assert.equal(run().out, 'bundle');
});
