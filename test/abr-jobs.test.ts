// Adaptive-streaming packages as jobs (issue 13): committed all or none, refused over an existing
// one unless --force, made by feederd's workers (a task per rung; chunked rungs for a long input),
// canceled and retried, and taken back when committed after a cancel. The ladder and the packages'
// playback are in abr.test.ts (split so the two files run side by side).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { FsStorage } from '../src/adapters/local/fs-storage.js';
import { createLogger } from '../src/log.js';
import { takeBackLateWork } from '../src/orchestrator/late-outputs.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { packageTasks } from '../src/abr/tasks.js';
import { after, before, describe, test } from 'node:test';
import { getPreset } from '../src/presets/registry.js';
import {
  ABR_CLIP_FPS,
  checkPackage,
  FAST_ABR,
  plainAbrClip,
  SMALL_ABR_PRESETS,
  writeAbrConfig,
  type AbrClip,
} from './helpers/abr.js';
import { nommer } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import { startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { makeClip, tempDir } from './helpers/media.js';
import { statusEvent } from './helpers/store.js';

const abr = getPreset('abr');

/**
 * The cheapest package there is, for the tests of committing, refusing and canceling (the ladder
 * and its rungs are tested elsewhere): a silent 160x90 source, under the smallest rung, is packaged
 * as one rendition at its own size (stream 0), 4 s so that 2 s segments make two of them.
 */
function tinyClip(dir: string): AbrClip {
  const path = makeClip(join(dir, 'tiny.mp4'), { seconds: 4, width: 160, height: 90, fps: 12, audioChannels: 0 });
  return { name: 'tiny', path, width: 160, height: 90, audio: false };
}

describe('packages as jobs', () => {
  const tmp = tempDir('nommer-abr-jobs-');
  let clip: AbrClip;
  before(() => {
    clip = tinyClip(tmp.path);
    writeAbrConfig(tmp.path);
  });
  after(() => tmp.cleanup());

  test('a file in the way of one segment: the package is committed all or none (none), what was there is kept', async () => {
    const dir = join(tmp.path, 'in-the-way-abr');
    mkdirSync(dir);
    writeFileSync(join(dir, 'chunk-stream0-00002.m4s'), 'the user put this here');
    const r = await nommer(['encode', clip.path, '-p', 'abr-small', '-o', dir, ...FAST_ABR.flatMap((s) => ['-s', s])], {
      cwd: tmp.path,
      timeoutMs: 300_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /exists/);
    assert.deepEqual(readdirSync(dir), ['chunk-stream0-00002.m4s']);
    assert.equal(readFileSync(join(dir, 'chunk-stream0-00002.m4s'), 'utf8'), 'the user put this here');
  });

  test('an existing package is refused unless --force; nothing half-written is left', async () => {
    // The CLI's main() in this process (a `nommer` start costs about a second of CPU): its exit
    // code and stderr are the binary's, which the test above runs.
    const dir = join(tmp.path, 'again-abr');
    const args = ['encode', clip.path, '-p', 'abr-small', '-o', dir, ...FAST_ABR.flatMap((s) => ['-s', s])];
    assert.equal((await nommerInProcess(args, { cwd: tmp.path })).code, 0);
    const before = readdirSync(dir).sort();
    const again = await nommerInProcess(args, { cwd: tmp.path });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /exists/);
    assert.deepEqual(readdirSync(dir).sort(), before);
    // --force with 4 s segments: one segment; the old package's second ones are removed.
    const forced = await nommerInProcess([...args, '-s', 'abr.segmentSeconds=4', '--force'], { cwd: tmp.path });
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(before.includes('chunk-stream0-00002.m4s'), before.join(', '));
    const index = JSON.parse(readFileSync(join(dir, 'nommer-package.json'), 'utf8')) as { files: string[] };
    assert.deepEqual(readdirSync(dir).sort(), [...index.files, 'nommer-package.json'].sort());
    assert.ok(!readdirSync(dir).includes('chunk-stream0-00002.m4s'), 'the old second segment is gone');
  });

  // One feederd (two workers) for the jobs below: chunking on for inputs of 5 s or more, so the
  // 6 s input is chunked (a 4 s chunk and a 2 s one) and the 4 s ones are a task per rung; the
  // small presets given to it.
  describe('on feederd', () => {
    const d = tempDir('nommer-abr-feederd-');
    let f: RunningFeederd;
    before(async () => {
      f = await startFeederd(d.path, {
        workers: 2,
        config: { chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 4 }, presets: SMALL_ABR_PRESETS },
      });
    });
    after(async () => {
      await f?.stop();
      d.cleanup();
    });

    test('cancel and retry: a package caught running is canceled (no package, no pieces left), then retried to success', async () => {
      // Running by construction: the first fetch of the input is held until the test drops it.
      let held: ServerResponse | undefined;
      let gotHeld!: () => void;
      const isHeld = new Promise<void>((r) => {
        gotHeld = r;
      });
      const server = createServer((_req, res) => {
        if (!held) {
          held = res;
          gotHeld();
          return;
        }
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': statSync(clip.path).size });
        res.end(readFileSync(clip.path));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      // The feederd is shared: only this job's pieces are looked for (the others' were there before it).
      const chunks = join(d.path, 'home', 'chunks');
      const listChunks = () => (existsSync(chunks) ? readdirSync(chunks) : []);
      const earlier = new Set(listChunks());
      const ours = () => listChunks().filter((x) => !earlier.has(x));
      try {
        const dir = join(d.path, 'held-abr');
        const { job } = await f.client.createJob({
          input: `http://127.0.0.1:${(server.address() as AddressInfo).port}/held.mp4`,
          outputs: [{ preset: 'abr-small', uri: dir }],
          set: FAST_ABR,
        });
        await isHeld;
        await waitForJob(f.client, job.id, (j) => j.state === 'running');
        await f.client.cancelJob(job.id);
        await waitForJob(f.client, job.id, (j) => j.state === 'canceled', 60_000, { finalIsFatal: false });
        held?.socket?.destroy();
        for (let i = 0; i < 100 && ours().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(ours(), [], 'the pieces are removed');
        assert.ok(!existsSync(join(dir, 'manifest.mpd')), 'a canceled package leaves no manifest');
        await f.client.retryJob(job.id);
        const done = await waitForJob(f.client, job.id, (j) => j.state === 'succeeded', 240_000);
        assert.equal(done.attempt, 2);
        checkPackage(dir, clip, d.path);
      } finally {
        held?.socket?.destroy();
        server.closeAllConnections();
        server.close();
      }
    });

    test('feederd: a task per rung on the workers, the package in place, status lists the renditions', async () => {
      // The built-in preset's own rungs: a 480x360 source gets 240p and 360p (4 s: under the
      // chunking threshold, a task per rung).
      const clip = plainAbrClip(tmp.path, 'feed', { seconds: 4, width: 480, height: 360 });
      const dir = join(d.path, 'out-abr');
      const sub = await nommer(
        ['submit', clip.path, '-p', 'abr', '-o', dir, ...FAST_ABR.flatMap((s) => ['-s', s]), '--json', '--detach'],
        { env: f.env },
      );
      assert.equal(sub.code, 0, sub.stderr);
      const id = (JSON.parse(sub.stdout) as { jobs: Array<{ id: string }> }).jobs[0]!.id;
      await waitForJob(f.client, id, (j) => j.state === 'succeeded', 240_000);
      const detail = await f.client.getJob(id);
      // The source is 480x360: its rungs, the audio, the extras and the package.
      assert.deepEqual(detail.tasks.map((t) => t.id.slice(t.id.lastIndexOf('.') + 1)).sort(), [
        'audio',
        'extras',
        'package',
        'rendition-240p',
        'rendition-360p',
      ]);
      assert.ok(detail.tasks.every((t) => t.state === 'succeeded'));
      checkPackage(dir, clip, d.path);
      const st = await nommer(['status', id], { env: f.env });
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, /240p.*320x240/);
      assert.match(st.stdout, /360p.*480x360/);
      assert.match(st.stdout, /manifest\.mpd/);
      assert.match(st.stdout, /master\.m3u8/);
      // The job's record (what `status --json` prints) lists them too.
      const outputs = detail.job.outputs as Array<{ package?: { renditions: Array<{ height: number }> } }>;
      assert.deepEqual(
        outputs[0]!.package!.renditions.map((r) => r.height),
        [240, 360],
      );
      assert.match(readFileSync(join(dir, 'master.m3u8'), 'utf8'), /RESOLUTION=320x240/);
    });

    test('a long input: every rung chunked on the ladder GOP across the workers, joined, segments still aligned', async () => {
      const clip = plainAbrClip(tmp.path, 'long', { seconds: 6, width: 320, height: 240 });
      const dir = join(d.path, 'long-abr');
      const { job } = await f.client.createJob({
        input: clip.path,
        outputs: [{ preset: 'abr-small', uri: dir }],
        set: FAST_ABR,
      });
      const detail = await f.client.getJob(job.id);
      const chunkTasks = detail.tasks.filter((t) => /rendition-\d+p-chunk-\d+$/.test(t.id));
      assert.ok(chunkTasks.length >= 4, `chunks of both rungs: ${detail.tasks.map((t) => t.id).join(', ')}`);
      assert.ok(
        !detail.tasks.some((t) => /rendition-(480|720|1080)p/.test(t.id)),
        'no task for rungs above the source',
      );
      await waitForJob(f.client, job.id, (j) => j.state === 'succeeded', 240_000);
      // Every rendition holds every frame of the source, once: a sample per frame (6 s at ABR_CLIP_FPS)
      // in the stream as a player appends it.
      const streams = checkPackage(dir, clip, d.path);
      assert.deepEqual(
        streams.map((s) => s.packets),
        [6 * ABR_CLIP_FPS, 6 * ABR_CLIP_FPS],
      );
    });
  });

  test('a package committed after its job was canceled is taken back, file by file', async () => {
    const d = tempDir('nommer-abr-late-');
    const store = openStore(join(d.path, 'store.db'));
    try {
      const dir = join(d.path, 'late-abr');
      mkdirSync(dir);
      const files = ['init-stream0.m4s', 'chunk-stream0-00001.m4s', 'manifest.mpd', 'master.m3u8'];
      for (const f of files) writeFileSync(join(dir, f), 'x');
      // The package's own index names its files; a name that leaves the package is never followed.
      writeFileSync(
        join(dir, 'nommer-package.json'),
        JSON.stringify({ madeBy: 'nommer', files: [...files, '../escape'] }),
      );
      writeFileSync(join(d.path, 'escape'), 'outside the package');
      writeFileSync(join(dir, 'mine.txt'), 'the user put this here');
      const { job } = store.createJob({
        input: '/media/in.mp4',
        outputs: [{ preset: abr, uri: dir }],
        tasks: packageTasks(abr, { scratch: `${join(d.path, 'scratch')}/` }),
      });
      store.cancelJob(job.id);
      const canceled = store.getJob(job.id)!;
      const pack = canceled.tasks.find((t) => t.type === 'package')!;
      const late = statusEvent(job.id, 9, 'succeeded', { taskId: pack.id, outputs: [{ uri: dir, bytes: 4 }] });
      await takeBackLateWork(
        store,
        new FsStorage(),
        createLogger('test', { level: 'silent' }),
      )(late, {
        reason: 'canceled',
        job: canceled,
      });
      assert.deepEqual(readdirSync(dir), ['mine.txt'], 'the package is gone, what else was there is kept');
      assert.ok(existsSync(join(d.path, 'escape')), 'a name leading out of the package is not followed');
    } finally {
      store.close();
      d.cleanup();
    }
  });
});
