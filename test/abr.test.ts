// Adaptive streaming (issue 13): the per-title ladder, and packages made end to end — in the
// foreground (`encode -p abr`) and by feederd's workers (a task per rung) — checked file by file:
// renditions never taller than the source, aspect kept with square pixels, a keyframe at every
// segment start in every rendition, one Opus rendition (none without audio), WebVTT subtitles
// listed in both manifests, thumbnails pointing at sprites that exist.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { planLadder, renditionPreset } from '../src/abr/ladder.js';
import { packageTasks } from '../src/abr/tasks.js';
import { getPreset } from '../src/presets/registry.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { compileJob } from '../src/presets/compile.js';
import { planChunks } from '../src/chunked/plan.js';
import { checkPackage, FAST_ABR, makeAbrClips, writeAbrConfig, type AbrClip } from './helpers/abr.js';
import { nommer } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import type { Browser, Page } from 'playwright-core';
import { launchPlayerBrowser, openPlayerPage, playInBrowser, servePackage } from './helpers/player.js';
import { tempDir } from './helpers/media.js';
import { probeOf, video } from './helpers/probe-info.js';

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
  test('presets that are not packages refuse abr settings, and a package needs its rungs', async () => {
    assert.equal(getPreset('abr-av1').container, 'cmaf');
    assert.throws(() => applyOverrides(getPreset('webm'), ['abr.segmentSeconds=2']), /has no abr/);
    assert.throws(() => applyOverrides(abr, ['abr=none']), /needs an abr section/);
    assert.equal(applyOverrides(abr, ['abr.segmentSeconds=6']).abr?.segmentSeconds, 6);
    // A quality target is refused for a package, not dropped (the CLI's main() in this process).
    const t = await nommerInProcess(['encode', '/nonexistent.mp4', '-p', 'abr', '--target', 'ssim=0.98']);
    assert.equal(t.code, 2, t.stderr);
    assert.match(t.stderr, /takes no quality target/);
  });
});

/** The package's DASH and HLS manifests played in turn in `page`, each loading the player afresh. */
async function playBoth(url: string, page: Page) {
  const plays = [];
  for (const manifest of ['manifest.mpd', 'master.m3u8'])
    plays.push({ manifest, rep: await playInBrowser({ url: `${url}${manifest}`, seconds: 2, page }) });
  return plays;
}

describe('packages, end to end', () => {
  const tmp = tempDir('nommer-abr-');
  let clips: AbrClip[];
  let browser: Browser;
  // The DASH and the HLS play of each package run in turn in one page (a new page starts a
  // renderer process, about 2 CPU-s here: a second page to play both at once cost more CPU than
  // the few seconds of wall time it saved).
  let page: Page;
  before(async () => {
    clips = makeAbrClips(tmp.path);
    writeAbrConfig(tmp.path);
    browser = await launchPlayerBrowser();
    page = await openPlayerPage(browser);
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
      const plays = await playBoth(served.url, page);
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

  // Three packages cover the four kinds of source: 4:3 with its audio 1 s ahead (an MPEG-TS at
  // 29.97 fps: a GOP that rounds up, an offset kept in sync), 16:9 with an odd height and a
  // subtitle track, one without audio. (4:3 from an MP4 is the AV1 package above.)
  const kinds: Record<string, string> = {
    offset:
      'the 4:3 MPEG-TS at 29.97 fps with its audio 1 s ahead (segments of the asked length, the audio starting with the video)',
    odd16x9: 'the odd-height 16:9 clip with subtitles',
    silent: 'the clip without audio',
  };
  for (const [name, what] of Object.entries(kinds)) {
    test(`encode -p abr on ${what} makes a package that passes every check and plays`, async () => {
      const clip = clips.find((c) => c.name === name)!;
      // The CLI's main() in this process (a `nommer` start costs about a second of CPU): the same
      // command, its --json on stdout; the AV1 package above goes through the real binary.
      const r = await nommerInProcess(
        ['encode', clip.path, '-p', 'abr-small', ...FAST_ABR.flatMap((s) => ['-s', s]), '--json'],
        { cwd: tmp.path },
      );
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { outputs: Array<{ path: string; package: { renditions: unknown[] } }> };
      const dir = out.outputs[0]!.path;
      assert.equal(dir, clip.path.replace(/\.\w+$/, '-abr-small'), 'default: <input name>-<preset>/ beside the input');
      const sizes = checkPackage(dir, clip, tmp.path);
      assert.equal(out.outputs[0]!.package.renditions.length, sizes.length);
      assert.ok(sizes.length >= 2, `${name}: at least two renditions to switch between`);
      // Both manifests play in a real browser player: several seconds, a switch on request, no error.
      const served = await servePackage(dir);
      try {
        const plays = await playBoth(served.url, page);
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
});
