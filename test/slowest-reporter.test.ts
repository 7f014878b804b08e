// npm test's reporter: spec's output, then the ten slowest leaf tests, then node's closing summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestEvent } from 'node:test/reporters';
import SlowestReporter from './slowest-reporter.js';
import { tempDir } from './helpers/media.js';

const REPORTER = fileURLToPath(new URL('./slowest-reporter.js', import.meta.url));

function pass(file: string, name: string, nesting: number, ms: number, type?: 'suite', skip?: string): TestEvent {
  return {
    type: 'test:pass',
    data: { file, name, nesting, testNumber: 1, details: { duration_ms: ms, type }, line: 1, column: 1, skip },
  } as TestEvent;
}

function diagnostic(message: string): TestEvent {
  return { type: 'test:diagnostic', data: { message, nesting: 0 } } as TestEvent;
}

async function report(events: TestEvent[]): Promise<string> {
  const r = new SlowestReporter();
  let out = '';
  r.on('data', (c) => (out += String(c)));
  const ended = new Promise((resolve) => r.on('end', resolve));
  for (const e of events) r.write(e);
  r.end();
  await ended;
  return out;
}

test('the slowest leaf tests come before the closing summary, slowest first, ten at most; suites and parents are not counted again; then what did not run, with why', async () => {
  const f = join(process.cwd(), 'x.test.js');
  const events: TestEvent[] = [];
  // Twelve top-level tests of 1..12 s, and a suite whose child took 30 s.
  for (let i = 1; i <= 12; i++) events.push(pass(f, `t${i}`, 0, i * 1000));
  events.push(pass(f, 'child', 1, 30_000), pass(f, 'the suite', 0, 30_100, 'suite'));
  events.push(pass(f, 'sub', 1, 20_000), pass(f, 'parent test', 0, 20_050));
  events.push(pass(f, 'skipped one', 0, 99_000, undefined, 'needs root'));
  events.push(diagnostic('tests 16'), diagnostic('pass 16'), diagnostic('fail 0'));
  const out = await report(events);
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.startsWith('slowest 10 tests:'));
  assert.ok(at >= 0, out);
  const listed = lines.slice(at + 1, at + 11).map((l) => l.trim().split(/\s+/).slice(2).join(' '));
  assert.deepEqual(listed, [
    'x.test.js child',
    'x.test.js sub',
    ...[12, 11, 10, 9, 8, 7, 6, 5].map((i) => `x.test.js t${i}`),
  ]);
  assert.match(lines[at + 1]!, /^\s+30\.0 s {2}x\.test\.js {2}child$/);
  assert.deepEqual(lines.slice(at + 11, at + 13), ['not run (1):', '  x.test.js  skipped one: skipped: needs root']);
  const summary = lines.findIndex((l) => /ℹ tests 16/.test(l));
  assert.ok(summary > at + 12, 'the summary follows the lists');
  assert.match(lines.filter(Boolean).at(-1)!, /ℹ fail 0/, 'the run ends with the summary');
});

test('a real node --test run with it keeps spec output and ends with the summary lines', () => {
  const d = tempDir('nommer-reporter-');
  // Without this, the inner run would take itself for a file of this run and report to it; and it
  // must not add its files to this run's timeline.
  const { NODE_TEST_CONTEXT: _, NOMMER_TEST_TIMELINE: __, ...env } = process.env;
  try {
    writeFileSync(join(d.path, 'a.test.mjs'), "import { test } from 'node:test';\ntest('alpha', () => {});\n");
    writeFileSync(join(d.path, 'b.test.mjs'), "import { test } from 'node:test';\ntest('beta', () => {});\n");
    const r = spawnSync(
      process.execPath,
      ['--test', `--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout', 'a.test.mjs', 'b.test.mjs'],
      { cwd: d.path, encoding: 'utf8', env: { ...env, NO_COLOR: '1', FORCE_COLOR: '0' } },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /✔ alpha/);
    assert.match(r.stdout, /slowest 2 tests:\n.* a\.test\.mjs {2}alpha\n|slowest 2 tests:\n.* b\.test\.mjs {2}beta\n/);
    const tail = r.stdout.trim().split('\n').slice(-8);
    assert.deepEqual(
      tail.map((l) => l.replace(/^ℹ (\w+) .*/, '$1')),
      ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms'],
      r.stdout,
    );
  } finally {
    d.cleanup();
  }
});
