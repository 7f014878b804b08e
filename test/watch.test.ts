// Watch folders (issue 28). The scan is driven by hand with an injected clock for the "whole once
// size and mtime hold still" rule (no timer is raced); the end-to-end test runs a real feederd and
// waits on job rows, bounded, failing at once when feederd exits.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../src/log.js';
import { openStore, type Store } from '../src/orchestrator/store/index.js';
import { addWatch } from '../src/orchestrator/store/add-watch.js';
import { getWatch, watchSpec } from '../src/orchestrator/store/watch-rows.js';
import { globToRegExp, isIgnoredName } from '../src/orchestrator/folder-scan.js';
import { Watcher } from '../src/orchestrator/watcher.js';
import type { JobCreatorDeps } from '../src/orchestrator/submit-job.js';
import type { PublicJob } from '../src/api/contract.js';
import { watchAnswer } from '../src/api/contract.js';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';

const dirs: Array<{ cleanup(): void }> = [];
const stores: Store[] = [];
const running: RunningFeederd[] = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const s of stores) s.close();
  for (const d of dirs) d.cleanup();
});

const log = createLogger('watch-test', { level: 'silent' });
const SETTLE = 1000;

/** A store, a watched folder and a destination, and a watcher on a clock the test moves. */
function rig(spec: { recursive?: boolean; pattern?: string; presets?: string[] } = {}) {
  const d = tempDir('nommer-watch-');
  dirs.push(d);
  const source = join(d.path, 'in');
  const dest = join(d.path, 'out');
  mkdirSync(source);
  const store = openStore(join(d.path, 'jobs.db'));
  stores.push(store);
  const creator: JobCreatorDeps = { store, userPresets: {}, defaultPreset: 'webm', maxAttempts: 3, onWork: () => {} };
  const watch = addWatch(store.db, watchSpec().parse({ source, dest, presets: spec.presets ?? ['opus'], ...spec }));
  const clock = { t: 1_000_000 };
  const watcher = () => new Watcher(creator, log, { settleMs: SETTLE, now: () => clock.t });
  const jobs = () => store.listJobs({ limit: 100 }).jobs;
  return { d, source, dest, store, watch, clock, watcher, jobs };
}

/** Passes enough for any whole file to be taken: a reading, and one after the settle time. */
async function settle(w: Watcher, clock: { t: number }): Promise<string[]> {
  const first = await w.scanOnce();
  clock.t += SETTLE;
  const second = await w.scanOnce();
  return [...first.created, ...second.created];
}

test('a file written slowly in three parts becomes exactly one job once whole, its output under DEST at its relative path', async () => {
  const r = rig({ recursive: true });
  const clip = readFileSync(makeClip(join(r.d.path, 'clip.mov'), { seconds: 1 }));
  mkdirSync(join(r.source, 'sub'));
  const file = join(r.source, 'sub', 'clip.mov');
  const w = r.watcher();
  const third = Math.ceil(clip.length / 3);
  for (let i = 0; i < 3; i++) {
    appendFileSync(file, clip.subarray(i * third, (i + 1) * third));
    // Long after the settle time, but the file changed since the last reading: not whole.
    r.clock.t += 10 * SETTLE;
    const pass = await w.scanOnce();
    assert.deepEqual(pass.created, [], `no job after part ${i + 1}`);
    assert.equal(pass.pending, 1);
  }
  // Unchanged, but not yet for the settle time.
  r.clock.t += SETTLE - 1;
  assert.deepEqual((await w.scanOnce()).created, []);
  r.clock.t += 1;
  const made = (await w.scanOnce()).created;
  assert.equal(made.length, 1);
  const jobs = r.jobs();
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0]!.input, file);
  assert.deepEqual(
    jobs[0]!.outputs.map((o) => o.uri),
    [join(r.dest, 'sub', 'clip.opus')],
  );
  // Later passes find it done.
  r.clock.t += 10 * SETTLE;
  assert.deepEqual(await settle(w, r.clock), []);
  assert.equal(r.jobs().length, 1);
  assert.equal(getWatch(r.store.db, r.watch.id)!.files, 1);
});

test('temp and hidden names make no job; a file moved into place makes one', async () => {
  const r = rig({ recursive: true });
  const bytes = readFileSync(makeClip(join(r.d.path, 'clip.mov'), { seconds: 1 }));
  mkdirSync(join(r.source, '.hidden-dir'));
  for (const name of ['.hidden.mov', 'a.mov.part', 'b.tmp', 'c.mov.crdownload', '.hidden-dir/d.mov', 'e.mov~'])
    writeFileSync(join(r.source, name), bytes);
  const w = r.watcher();
  assert.deepEqual(await settle(w, r.clock), []);
  r.clock.t += 10 * SETTLE;
  assert.deepEqual(await settle(w, r.clock), []);
  assert.equal(r.jobs().length, 0);
  renameSync(join(r.source, 'a.mov.part'), join(r.source, 'a.mov'));
  const made = await settle(w, r.clock);
  assert.equal(made.length, 1);
  assert.deepEqual(
    r.jobs().map((j) => j.input),
    [join(r.source, 'a.mov')],
  );
});

test('a touch, a rescan or a restart makes no second job; new content at the same path makes one that replaces the outputs', async () => {
  const r = rig();
  const file = join(r.source, 'clip.mov');
  makeClip(file, { seconds: 1 });
  assert.equal((await settle(r.watcher(), r.clock)).length, 1);
  const later = new Date(Date.now() + 60_000);
  utimesSync(file, later, later);
  // A new watcher: what a restarted feederd has (nothing in memory).
  const restarted = r.watcher();
  assert.deepEqual(await settle(restarted, r.clock), []);
  r.clock.t += 10 * SETTLE;
  assert.deepEqual(await settle(restarted, r.clock), []);
  assert.equal(r.jobs().length, 1);
  makeClip(file, { seconds: 1, width: 160, height: 120 });
  const made = await settle(restarted, r.clock);
  assert.equal(made.length, 1);
  const jobs = r.jobs();
  assert.equal(jobs.length, 2);
  assert.equal(r.store.getJob(made[0]!)!.options.force, true);
});

test('only names the pattern matches; a missing folder is a visible state, and the watch resumes when it is back', async () => {
  const r = rig({ pattern: '*.{mov,mp4}' });
  makeClip(join(r.source, 'a.mov'), { seconds: 1 });
  writeFileSync(join(r.source, 'notes.txt'), 'not media');
  const w = r.watcher();
  assert.equal((await settle(w, r.clock)).length, 1);
  rmSync(r.source, { recursive: true });
  await w.scanOnce();
  const broken = getWatch(r.store.db, r.watch.id)!;
  assert.equal(broken.state, 'error');
  assert.equal(broken.error, 'folder missing');
  mkdirSync(r.source);
  makeClip(join(r.source, 'b.mp4'), { seconds: 1 });
  assert.equal((await settle(w, r.clock)).length, 1);
  assert.equal(getWatch(r.store.db, r.watch.id)!.state, 'ok');
});

test('glob and ignored names', () => {
  assert.ok(globToRegExp('*.mov').test('Clip.MOV'));
  assert.ok(!globToRegExp('*.mov').test('clip.mp4'));
  assert.ok(globToRegExp('*.{mov,mp4}').test('clip.mp4'));
  assert.ok(globToRegExp('shows/**/*.mkv').test('shows/a/b/e1.mkv'));
  assert.ok(globToRegExp('take?.wav').test('take1.wav'));
  for (const n of ['.x.mov', 'a.part', 'a.tmp', 'a.crdownload', 'a~']) assert.ok(isIgnoredName(n), n);
  assert.ok(!isIgnoredName('a.mov'));
});

/** Jobs of a running feederd, polled until `n` exist; fails at once when feederd exits. */
async function waitForJobs(f: RunningFeederd, n: number): Promise<PublicJob[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (f.proc.exitCode !== null) throw new Error(`feederd exited (${f.proc.exitCode})`);
    const { jobs } = await f.client.listJobs({ limit: 100 });
    if (jobs.length >= n)
      return jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} jobs; have ${JSON.stringify(jobs)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** A clip made outside the watched folder and moved in whole (rename): no partial file is ever seen. */
function moveIn(d: string, folder: string, name: string): void {
  renameSync(makeClip(join(d, name), { seconds: 1 }), join(folder, name));
}

test('watch add refuses a missing folder and, on the local backend, an S3 prefix (exit 2, with a hint); list shows a folder that goes missing; remove', async () => {
  const d = tempDir('nommer-watch-cli-');
  dirs.push(d);
  const source = join(d.path, 'in');
  mkdirSync(source);
  const f = await startFeederd(d.path, { workers: 0, config: { watch: { settleSeconds: 0.3, rescanSeconds: 1 } } });
  running.push(f);
  const cli = (args: string[]) => nommer(args, { env: f.env, cwd: f.dir });
  const missing = await cli(['watch', 'add', join(d.path, 'nope'), '-p', 'opus', '-o', join(d.path, 'out')]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /folder missing: .*nope/);
  assert.match(missing.stderr, /create the folder/);
  const s3 = await cli(['watch', 'add', 's3://media/in/', '-p', 'opus', '-o', 's3://media/out/']);
  assert.equal(s3.code, 2, s3.stderr);
  assert.match(s3.stderr, /needs the aws backend; this feederd runs the local one/);
  assert.match(s3.stderr, /nommer setup aws/);
  const added = await cli(['watch', 'add', source, '-p', 'opus', '-o', join(d.path, 'out'), '--json']);
  assert.equal(added.code, 0, added.stderr);
  const { watch } = watchAnswer().parse(JSON.parse(added.stdout));
  assert.equal(watch.state, 'ok');
  rmSync(source, { recursive: true });
  const deadline = Date.now() + 30_000;
  let text = '';
  while (!/error: folder missing/.test(text)) {
    if (f.proc.exitCode !== null || Date.now() > deadline)
      assert.fail(`watch list never said the folder is missing: ${text}`);
    const listed = await f.client.listWatches();
    if (listed.watches[0]?.state === 'error') text = (await cli(['watch', 'list'])).stdout;
    else await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(text, new RegExp(`^${watch.id}  ${source}  opus -> .*error: folder missing`, 'm'));
  const removed = await cli(['watch', 'remove', watch.id]);
  assert.equal(removed.code, 0, removed.stderr);
  const gone = await cli(['watch', 'remove', watch.id]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no watch/);
  await f.stop();
});

test('feederd runs a watch: a file moved into place is encoded, an undecodable one fails alone, a restart makes no duplicate', async () => {
  const d = tempDir('nommer-watch-e2e-');
  dirs.push(d);
  const source = join(d.path, 'in');
  const dest = join(d.path, 'out');
  mkdirSync(source);
  const config = { watch: { settleSeconds: 0.3, rescanSeconds: 1 } };
  let f = await startFeederd(d.path, { workers: 1, config });
  running.push(f);
  await f.client.addWatch({ source, presets: ['opus'], dest });

  // Written under a temp name in the folder, then renamed.
  writeFileSync(join(source, 'talk.mov.part'), readFileSync(makeClip(join(d.path, 'talk.mov'), { seconds: 1 })));
  renameSync(join(source, 'talk.mov.part'), join(source, 'talk.mov'));
  const [first] = await waitForJobs(f, 1);
  const done = await waitForJob(f.client, first!.id, (j) => j.state === 'succeeded');
  assert.equal(done.outputs[0]!.uri, join(dest, 'talk.opus'));
  assert.equal(probe(join(dest, 'talk.opus')).streams[0]!.codec_name, 'opus');

  writeFileSync(join(d.path, 'broken.mov'), 'this is not a video file at all'.repeat(100));
  renameSync(join(d.path, 'broken.mov'), join(source, 'broken.mov'));
  const bad = (await waitForJobs(f, 2))[1]!;
  const failed = await waitForJob(f.client, bad.id, (j) => j.state === 'failed');
  assert.equal(failed.error?.code, 'INPUT_UNDECODABLE');

  // The watch goes on.
  moveIn(d.path, source, 'next.mov');
  const next = (await waitForJobs(f, 3))[2]!;
  await waitForJob(f.client, next.id, (j) => j.state === 'succeeded');
  assert.ok(existsSync(join(dest, 'next.opus')));

  await f.stop();
  f = await startFeederd(d.path, { workers: 0, config, keepToken: true });
  running.push(f);
  // A file that arrives after the restart: once it is a job, the watcher has passed over the old
  // files at least twice (each pass lists them all before taking a settled new one).
  moveIn(d.path, source, 'after.mov');
  await waitForJobs(f, 4);
  const final = await f.client.listJobs({ limit: 100 });
  assert.deepEqual(final.jobs.map((j) => j.input).sort(), [
    join(source, 'after.mov'),
    join(source, 'broken.mov'),
    join(source, 'next.mov'),
    join(source, 'talk.mov'),
  ]);
  const listed = await f.client.listWatches();
  assert.deepEqual(
    listed.watches.map((w) => [w.state, w.files]),
    [['ok', 4]],
  );
  await f.stop();
});
