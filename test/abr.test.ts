// Adaptive streaming (issue 13): the per-title ladder, and packages made end to end — in the
// foreground (`encode -p abr`) and by feederd's workers (a task per rung) — checked file by file:
// renditions never taller than the source, aspect kept with square pixels, a keyframe at every
// segment start in every rendition, one Opus rendition (none without audio), WebVTT subtitles
// listed in both manifests, thumbnails pointing at sprites that exist.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { FsStorage } from '../src/adapters/local/fs-storage.js';
import { createLogger } from '../src/log.js';
import { takeBackLateWork } from '../src/orchestrator/late-outputs.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { toWirePreset } from '../src/presets/registry.js';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { planLadder, renditionPreset } from '../src/abr/ladder.js';
import { packageTasks } from '../src/abr/tasks.js';
import { getPreset } from '../src/presets/registry.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { compileJob } from '../src/presets/compile.js';
import { planChunks } from '../src/chunked/plan.js';
import {
  checkPackage,
  FAST_ABR,
  makeAbrClips,
  SMALL_ABR_PRESETS,
  writeAbrConfig,
  type AbrClip,
} from './helpers/abr.js';
import { nommer, nommerSync } from './helpers/cli.js';
import type { Browser } from 'playwright-core';
import { launchPlayerBrowser, playInBrowser, servePackage } from './helpers/player.js';
import { startFeederd, waitForJob } from './helpers/feederd.js';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { probeOf, video } from './helpers/probe-info.js';
import { statusEvent } from './helpers/store.js';

const abr = getPreset('abr');

describe('the ladder, per title', () => {
  test('a 4:3 source gets the rungs no taller than itself, square-pixel sizes with its aspect', () => {
    assert.deepEqual(planLadder(abr, { displayWidth: 640, displayHeight: 480 }), [
      { rung: 240, width: 320, height: 240 },
      { rung: 360, width: 480, height: 360 },
      { rung: 480, width: 640, height: 480 },
    ]);
  });
  test('16:9 with an odd height: even sizes, nothing taller than the source', () => {
    assert.deepEqual(planLadder(abr, { displayWidth: 854, displayHeight: 481 }), [
      { rung: 240, width: 426, height: 240 },
      { rung: 360, width: 638, height: 360 },
      { rung: 480, width: 852, height: 480 },
    ]);
  });
  test('a portrait source: the rung is its width; a 4K source stops at the top rung', () => {
    assert.deepEqual(
      planLadder(abr, { displayWidth: 360, displayHeight: 640 }).map((r) => [r.width, r.height]),
      [
        [240, 426],
        [360, 640],
      ],
    );
    assert.deepEqual(
      planLadder(abr, { displayWidth: 3840, displayHeight: 2160 }).map((r) => r.height),
      [240, 360, 480, 720, 1080],
    );
  });
  test('a source smaller than the smallest rung still gets one rendition, at its own size', () => {
    assert.deepEqual(planLadder(abr, { displayWidth: 160, displayHeight: 90 }), [
      { rung: 240, width: 160, height: 90 },
    ]);
  });
  test("a rendition's command: square pixels, a keyframe exactly every segment, the ladder's ceiling", () => {
    const probe = probeOf(
      video({ width: 640, height: 480, displayWidth: 640, displayHeight: 480, fps: 30 }),
      undefined,
    );
    const c = compileJob({
      input: 'file:/in.mp4',
      probe,
      outputs: [{ preset: renditionPreset(abr, 240), path: '/tmp/r.webm' }],
      encoders: new Set(['libvpx-vp9', 'libopus']),
      passlogDir: '/tmp',
    });
    const args = c.commands[0]!.args;
    assert.ok(args.includes('scale=320:240,setsar=1'), args.join(' '));
    assert.equal(args[args.indexOf('-g') + 1], '120');
    assert.equal(args[args.indexOf('-keyint_min') + 1], '120');
    assert.ok(args.includes('-maxrate'));
    assert.ok(!args.includes('-c:a'), 'a rendition is video only');
  });
  test('the task graph: a rendition per rung, audio, extras, then the package after all of them', () => {
    const tasks = packageTasks(abr, { scratch: '/s/' });
    assert.deepEqual(
      tasks.map((t) => t.key),
      [
        'rendition-240p',
        'rendition-360p',
        'rendition-480p',
        'rendition-720p',
        'rendition-1080p',
        'audio',
        'extras',
        'package',
      ],
    );
    assert.deepEqual(
      tasks.at(-1)!.deps,
      tasks.slice(0, -1).map((t) => t.key),
    );
    assert.ok(Math.abs(tasks.reduce((s, t) => s + t.weight, 0) - 1) < 0.01);
  });
  test('chunks of a ladder are cut only on its GOP, each decoding from a source keyframe before it', () => {
    const times = Array.from({ length: 300 }, (_, i) => i / 25);
    const keyframes = Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 37 === 0);
    const plan = planChunks({ times, keyframes, formatStart: 0, fps: 25 }, { chunkSeconds: 3, cutEvery: 50 });
    assert.ok(plan.chunks.length >= 3);
    for (const c of plan.chunks) {
      assert.equal(c.startFrame % 50, 0, `chunk ${c.index} starts at frame ${c.startFrame}`);
      if (c.seek !== null) assert.ok(c.seek < c.startTime, 'seeks to before its first frame');
    }
    assert.equal(
      plan.chunks.reduce((n, c) => n + c.frames, 0),
      300,
    );
  });
  test('presets that are not packages refuse abr settings, and a package needs its rungs', () => {
    const r = nommerSyncJson(['presets', 'abr-av1', '--json']);
    assert.equal(r.container, 'cmaf');
    assert.throws(() => applyOverrides(getPreset('webm'), ['abr.segmentSeconds=2']), /has no abr/);
    assert.throws(() => applyOverrides(abr, ['abr=none']), /needs an abr section/);
    assert.equal(applyOverrides(abr, ['abr.segmentSeconds=6']).abr?.segmentSeconds, 6);
    // A quality target is refused for a package, not dropped.
    const t = nommerSync(['encode', '/nonexistent.mp4', '-p', 'abr', '--target', 'ssim=0.98']);
    assert.equal(t.code, 2, t.stderr);
    assert.match(t.stderr, /takes no quality target/);
  });
});

function nommerSyncJson(args: string[]): Record<string, unknown> {
  const r = nommerSync(args);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  return (out.preset as Record<string, unknown>) ?? out;
}

describe('packages, end to end', () => {
  const tmp = tempDir('nommer-abr-');
  let clips: AbrClip[];
  let browser: Browser;
  before(async () => {
    clips = makeAbrClips(tmp.path);
    writeAbrConfig(tmp.path);
    browser = await launchPlayerBrowser();
  });
  after(async () => {
    await browser?.close();
    tmp.cleanup();
  });

  test('abr-av1: an AV1 + Opus package passes every check and plays over DASH and HLS', async () => {
    const clip = clips.find((c) => c.name === '4x3')!;
    const dir = join(tmp.path, 'av1-abr');
    const r = await nommer(
      [
        'encode',
        clip.path,
        '-p',
        'abr-av1-small',
        '-o',
        dir,
        '-s',
        'abr.segmentSeconds=2',
        '-s',
        'video.speed=12',
        '--json',
      ],
      { timeoutMs: 300_000, cwd: tmp.path },
    );
    assert.equal(r.code, 0, r.stderr);
    const sizes = checkPackage(dir, clip, tmp.path);
    assert.ok(sizes.length >= 2);
    assert.match(readFileSync(join(dir, 'manifest.mpd'), 'utf8'), /codecs="av01\./);
    const served = await servePackage(dir);
    try {
      // Both manifests at once, each in its own context of the shared browser (playback waits in real time).
      const plays = await Promise.all(
        ['manifest.mpd', 'master.m3u8'].map(async (manifest) => ({
          manifest,
          rep: await playInBrowser({ url: `${served.url}${manifest}`, seconds: 2, browser }),
        })),
      );
      for (const { manifest, rep } of plays) {
        const what = `av1 ${manifest}: ${JSON.stringify(rep)}`;
        assert.deepEqual(rep.errors, [], what);
        assert.ok(
          rep.loaded && rep.playedSeconds >= 2 && rep.switchedTo && rep.activeAfterSwitch?.id === rep.switchedTo.id,
          what,
        );
        assert.ok(
          rep.variants.every((v) => v.videoCodec?.startsWith('av01')),
          what,
        );
      }
    } finally {
      await served.close();
    }
  });

  for (const name of ['offset']) {
    test(`encode -p abr on an MPEG-TS at 29.97 fps with its audio 1 s ahead: segments of the asked length, the audio starting with the video`, async () => {
      const clip = clips.find((c) => c.name === name)!;
      const r = await nommer(
        ['encode', clip.path, '-p', 'abr-small', ...FAST_ABR.flatMap((s) => ['-s', s]), '--json'],
        {
          cwd: tmp.path,
          timeoutMs: 300_000,
        },
      );
      assert.equal(r.code, 0, r.stderr);
      checkPackage((JSON.parse(r.stdout) as { outputs: Array<{ path: string }> }).outputs[0]!.path, clip, tmp.path);
    });
  }

  for (const name of ['4x3', 'odd16x9', 'silent', 'subbed']) {
    test(`encode -p abr on the ${name} clip makes a package that passes every check`, async () => {
      const clip = clips.find((c) => c.name === name)!;
      const r = await nommer(
        ['encode', clip.path, '-p', 'abr-small', ...FAST_ABR.flatMap((s) => ['-s', s]), '--json'],
        {
          cwd: tmp.path,
          timeoutMs: 300_000,
        },
      );
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { outputs: Array<{ path: string; package: { renditions: unknown[] } }> };
      const dir = out.outputs[0]!.path;
      assert.equal(dir, clip.path.replace(/\.mp4$/, '-abr-small'), 'default: <input name>-<preset>/ beside the input');
      const sizes = checkPackage(dir, clip, tmp.path);
      assert.equal(out.outputs[0]!.package.renditions.length, sizes.length);
      assert.ok(sizes.length >= 2, `${name}: at least two renditions to switch between`);
      // Both manifests play in a real browser player: several seconds, a switch on request, no error.
      const served = await servePackage(dir);
      try {
        // Both manifests at once, each in its own context of the shared browser (playback waits in real time).
        const plays = await Promise.all(
          ['manifest.mpd', 'master.m3u8'].map(async (manifest) => ({
            manifest,
            rep: await playInBrowser({ url: `${served.url}${manifest}`, seconds: 2, browser }),
          })),
        );
        for (const { manifest, rep } of plays) {
          const what = `${name} ${manifest}: ${JSON.stringify(rep)}`;
          assert.deepEqual(rep.errors, [], what);
          assert.ok(rep.loaded && rep.playedSeconds >= 2, what);
          assert.equal(rep.variants.length, sizes.length, what);
          assert.ok(rep.switchedTo && rep.activeAfterSwitch?.id === rep.switchedTo.id, what);
          assert.ok(
            rep.variants.every((v) => (v.audioCodec === null) === !clip.audio),
            what,
          );
          if (clip.subtitle)
            assert.ok(
              rep.textTracks.some((t) => t.language === 'en'),
              what,
            );
        }
      } finally {
        await served.close();
      }
    });
  }

  test('a file in the way of one segment: the package is committed all or none (none), what was there is kept', async () => {
    const clip = clips.find((c) => c.name === 'silent')!;
    const dir = join(tmp.path, 'in-the-way-abr');
    mkdirSync(dir);
    writeFileSync(join(dir, 'chunk-stream1-00002.m4s'), 'the user put this here');
    const r = await nommer(['encode', clip.path, '-p', 'abr-small', '-o', dir, ...FAST_ABR.flatMap((s) => ['-s', s])], {
      cwd: tmp.path,
      timeoutMs: 300_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /exists/);
    assert.deepEqual(readdirSync(dir), ['chunk-stream1-00002.m4s']);
    assert.equal(readFileSync(join(dir, 'chunk-stream1-00002.m4s'), 'utf8'), 'the user put this here');
  });

  test('an existing package is refused unless --force; nothing half-written is left', async () => {
    const clip = clips.find((c) => c.name === 'silent')!;
    const dir = join(tmp.path, 'again-abr');
    const args = ['encode', clip.path, '-p', 'abr-small', '-o', dir, ...FAST_ABR.flatMap((s) => ['-s', s])];
    assert.equal((await nommer(args, { timeoutMs: 300_000, cwd: tmp.path })).code, 0);
    const before = readdirSync(dir).sort();
    const again = await nommer(args, { timeoutMs: 300_000, cwd: tmp.path });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /exists/);
    assert.deepEqual(readdirSync(dir).sort(), before);
    // --force with 4 s segments: one segment; the old package's second ones are removed.
    const forced = await nommer([...args, '-s', 'abr.segmentSeconds=4', '--force'], {
      timeoutMs: 300_000,
      cwd: tmp.path,
    });
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(before.includes('chunk-stream0-00002.m4s'), before.join(', '));
    const index = JSON.parse(readFileSync(join(dir, 'nommer-package.json'), 'utf8')) as { files: string[] };
    assert.deepEqual(readdirSync(dir).sort(), [...index.files, 'nommer-package.json'].sort());
    assert.ok(!readdirSync(dir).includes('chunk-stream0-00002.m4s'), 'the old second segment is gone');
  });

  test('feederd: a task per rung on the workers, the package in place, status lists the renditions', async () => {
    // The built-in preset's own rungs: a 480x360 source gets 240p and 360p.
    const clip: AbrClip = {
      name: 'feed',
      path: makeClip(join(tmp.path, 'feed.mp4'), { seconds: 4, width: 480, height: 360, fps: 24 }),
      width: 480,
      height: 360,
      audio: true,
    };
    const d = tempDir('nommer-abr-feederd-');
    const f = await startFeederd(d.path, { workers: 2 });
    try {
      const dir = join(d.path, 'out-abr');
      const sub = await nommer(
        ['submit', clip.path, '-p', 'abr', '-o', dir, ...FAST_ABR.flatMap((s) => ['-s', s]), '--json', '--detach'],
        { env: f.env },
      );
      assert.equal(sub.code, 0, sub.stderr);
      const id = (JSON.parse(sub.stdout) as { jobs: Array<{ id: string }> }).jobs[0]!.id;
      const job = await waitForJob(f.client, id, (j) => j.state === 'succeeded', 240_000);
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
      const json = JSON.parse((await nommer(['status', id, '--json'], { env: f.env })).stdout) as {
        job: { outputs: Array<{ package?: { renditions: Array<{ height: number }> } }> };
      };
      assert.deepEqual(
        json.job.outputs[0]!.package!.renditions.map((r) => r.height),
        [240, 360],
      );
      assert.match(readFileSync(join(dir, 'master.m3u8'), 'utf8'), /RESOLUTION=320x240/);
    } finally {
      await f.stop();
      d.cleanup();
    }
  });

  test('a long input: every rung chunked on the ladder GOP across the workers, joined, segments still aligned', async () => {
    const clip: AbrClip = {
      name: 'long',
      path: makeClip(join(tmp.path, 'long.mp4'), { seconds: 8, width: 320, height: 240, fps: 24 }),
      width: 320,
      height: 240,
      audio: true,
    };
    const d = tempDir('nommer-abr-chunked-');
    const f = await startFeederd(d.path, {
      workers: 2,
      config: { chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 4 }, presets: SMALL_ABR_PRESETS },
    });
    try {
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
      checkPackage(dir, clip, d.path);
      // Every rendition holds every frame of the source, once.
      for (const i of [0, 1]) {
        const files = readdirSync(dir)
          .filter((x) => x.startsWith(`chunk-stream${i}-`))
          .sort();
        const whole = join(d.path, `whole-${i}.mp4`);
        writeFileSync(
          whole,
          Buffer.concat([
            readFileSync(join(dir, `init-stream${i}.m4s`)),
            ...files.map((x) => readFileSync(join(dir, x))),
          ]),
        );
        assert.equal(
          Number(probe(whole, true).streams.find((x) => x.codec_type === 'video')?.nb_read_frames),
          192,
          `stream ${i}`,
        );
      }
    } finally {
      await f.stop();
      d.cleanup();
    }
  });

  test('cancel and retry: a package caught running is canceled (no package, no pieces left), then retried to success', async () => {
    const clip = clips.find((c) => c.name === 'silent')!;
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
    const d = tempDir('nommer-abr-cancel-');
    const f = await startFeederd(d.path, { workers: 2, config: { presets: SMALL_ABR_PRESETS } });
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
      const chunks = join(d.path, 'home', 'chunks');
      for (let i = 0; i < 100 && existsSync(chunks) && readdirSync(chunks).length > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(existsSync(chunks) ? readdirSync(chunks) : [], [], 'the pieces are removed');
      assert.ok(!existsSync(join(dir, 'manifest.mpd')), 'a canceled package leaves no manifest');
      await f.client.retryJob(job.id);
      const done = await waitForJob(f.client, job.id, (j) => j.state === 'succeeded', 240_000);
      assert.equal(done.attempt, 2);
      checkPackage(dir, clip, d.path);
    } finally {
      held?.socket?.destroy();
      server.closeAllConnections();
      server.close();
      await f.stop();
      d.cleanup();
    }
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
        outputs: [{ preset: toWirePreset(abr), uri: dir }],
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
