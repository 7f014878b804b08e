// An encoded WebM's length and height read from its own header (ffmpeg/webm-media.ts), which a
// worker records for the job's cost per output minute instead of starting ffprobe: on files
// ffmpeg wrote, the same figures as ffprobe's; on a file that records no Duration, or is no WebM,
// none (and measureOutputMedia asks ffprobe, as before).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { measureOutputMedia } from '../src/cost/output-media.js';
import { readOggOpusSeconds } from '../src/ffmpeg/ogg-media.js';
import { readWebmMedia } from '../src/ffmpeg/webm-media.js';
import { readWebpStill, webpSizeIn } from '../src/ffmpeg/webp-media.js';
import { probeInput } from '../src/ffmpeg/probe.js';
import { countedTools } from './helpers/counted-tools.js';
import { FFMPEG, FFPROBE, probe, tempDir } from './helpers/media.js';

const d = tempDir('nommer-webm-media-');
after(() => d.cleanup());

// The sources end by themselves: with -t, ffmpeg would declare that length up front, in the
// header of a file it cannot go back and finish.
const VIDEO = ['-f', 'lavfi', '-i', 'testsrc2=size=176x98:rate=12:duration=1.3'];
const AUDIO = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=1.3'];
const FAST_VP9 = ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '100k'];

/** Encodes with ffmpeg into `name` (or to stdout, as a muxer with no seekable file writes it). */
function make(name: string, args: string[], { piped = false } = {}): string {
  const path = join(d.path, name);
  const base = ['-hide_banner', '-loglevel', 'error', '-y', ...args];
  if (piped) writeFileSync(path, execFileSync(FFMPEG, [...base, '-f', 'webm', 'pipe:1']));
  else execFileSync(FFMPEG, [...base, path]);
  return path;
}

/** What ffprobe says of the file: its format duration and first video stream's height. */
function probed(path: string): { seconds: number; height: number | null } {
  const p = probe(path);
  const v = p.streams.find((s) => s.codec_type === 'video');
  return { seconds: Number(p.format.duration), height: v?.height ?? null };
}

test("a WebM's length and height from its header are ffprobe's, with video and audio, video alone and audio alone", async () => {
  const cases = [
    make('both.webm', [...VIDEO, ...AUDIO, ...FAST_VP9, '-c:a', 'libopus']),
    make('video.webm', [...VIDEO, ...FAST_VP9]),
    make('audio.webm', [...AUDIO, '-c:a', 'libopus']),
  ];
  for (const path of cases) {
    const read = await readWebmMedia(path);
    assert.deepEqual(read, probed(path), path);
  }
  assert.equal((await readWebmMedia(cases[2]!))?.height, null, 'no video track: no height');
  assert.equal((await readWebmMedia(cases[1]!))?.height, 98);
  assert.ok(Math.abs((await readWebmMedia(cases[0]!))!.seconds - 1.3) < 0.1, 'about the 1.3 s encoded');
});

test('a WebM with no Duration (written to a pipe), a truncated one and an Ogg give nothing, and are probed instead', async () => {
  const piped = make('piped.webm', [...VIDEO, ...FAST_VP9], { piped: true });
  const whole = make('whole.webm', [...VIDEO, ...FAST_VP9]);
  const cut = join(d.path, 'cut.webm');
  writeFileSync(cut, readFileSync(whole).subarray(0, 60));
  const ogg = make('audio.ogg', [...AUDIO, '-c:a', 'libvorbis']);
  for (const path of [piped, cut, ogg]) assert.equal(await readWebmMedia(path), undefined, path);
  assert.equal(await readOggOpusSeconds(ogg), undefined, 'Vorbis is not read from its pages');
  // measureOutputMedia: the Ogg Vorbis's figures from ffprobe; the truncated file, which ffprobe
  // cannot read either, left out.
  const media = await measureOutputMedia(FFPROBE, [
    { uri: 'ogg', path: ogg },
    { uri: 'cut', path: cut },
    { uri: 'whole', path: whole },
  ]);
  assert.deepEqual(media, [
    { uri: 'ogg', ...probed(ogg) },
    { uri: 'whole', ...probed(whole) },
  ]);
});

test("an Ogg Opus file's length is read from its pages: ffprobe's, less the pre-skip it counts; a cut or mixed file is probed", async () => {
  const opus = make('audio.opus', [...AUDIO, '-c:a', 'libopus']);
  // 1.3 s of 48 kHz sine is 62,400 samples: exactly what a player plays.
  assert.equal(await readOggOpusSeconds(opus), 1.3);
  const preSkip = readFileSync(opus).readUInt16LE(readFileSync(opus).indexOf('OpusHead') + 10);
  assert.ok(Math.abs(1.3 + preSkip / 48_000 - probed(opus).seconds) < 1e-6, 'ffprobe 5.1 counts the pre-skip in');
  const cut = join(d.path, 'cut.opus');
  writeFileSync(cut, readFileSync(opus).subarray(0, readFileSync(opus).length - 10));
  const withVideo = make('both.ogg', [...VIDEO, ...AUDIO, '-c:v', 'libtheora', '-c:a', 'libopus']);
  for (const path of [cut, withVideo]) assert.equal(await readOggOpusSeconds(path), undefined, path);
  assert.deepEqual(await measureOutputMedia(FFPROBE, [{ uri: 'opus', path: opus }]), [
    { uri: 'opus', seconds: 1.3, height: null },
  ]);
});

test("a still WebP's size is read from its header, as ffprobe reports it (lossy, lossless, with alpha); an animated, cut or other file is probed", async () => {
  const PICTURE = ['-f', 'lavfi', '-i', 'testsrc2=size=150x86', '-frames:v', '1'];
  const stills = [
    make('lossy.webp', [...PICTURE, '-c:v', 'libwebp']),
    make('lossless.webp', [...PICTURE, '-c:v', 'libwebp', '-lossless', '1']),
    make('alpha.webp', [...PICTURE, '-vf', 'format=yuva420p', '-c:v', 'libwebp']),
  ];
  for (const path of stills) {
    const v = probe(path).streams.find((s) => s.codec_type === 'video')!;
    assert.deepEqual(webpSizeIn(readFileSync(path)), { width: v.width, height: v.height, animated: false }, path);
    // A still's length is 0, as probeInput gives it (ffprobe reports no duration for one picture).
    assert.deepEqual(await readWebpStill(path), { seconds: (await probeInput(FFPROBE, path)).duration, height: 86 });
  }
  const animated = make('animated.webp', [
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=150x86:rate=5:duration=1',
    '-c:v',
    'libwebp',
    '-loop',
    '0',
  ]);
  assert.equal(webpSizeIn(readFileSync(animated))?.animated, true);
  const cut = join(d.path, 'cut.webp');
  writeFileSync(cut, readFileSync(stills[0]!).subarray(0, 40));
  for (const path of [animated, cut, make('video-for-webp.webm', [...VIDEO, ...FAST_VP9])])
    assert.equal(await readWebpStill(path), undefined, path);
  // measureOutputMedia: the still from its header; the animation goes to ffprobe as before (which
  // in Debian's 5.1 cannot decode an animated WebP: then it is left out, as cost bookkeeping does).
  const anim = await probeInput(FFPROBE, animated).catch(() => undefined);
  const tools = countedTools();
  const saved = process.env.NOMMER_TEST_STARTS_LOG;
  process.env.NOMMER_TEST_STARTS_LOG = tools.env.NOMMER_TEST_STARTS_LOG;
  const media = await measureOutputMedia(tools.env.NOMMER_FFPROBE, [{ uri: 'still', path: stills[1]! }]).finally(() => {
    if (saved === undefined) delete process.env.NOMMER_TEST_STARTS_LOG;
    else process.env.NOMMER_TEST_STARTS_LOG = saved;
  });
  assert.deepEqual(media, [{ uri: 'still', seconds: 0, height: 86 }]);
  assert.deepEqual(tools.starts(), [], 'a still WebP is measured without starting ffprobe');
  assert.deepEqual(
    await measureOutputMedia(FFPROBE, [
      { uri: 'still', path: stills[0]! },
      { uri: 'animated', path: animated },
    ]),
    [
      { uri: 'still', seconds: 0, height: 86 },
      ...(anim ? [{ uri: 'animated', seconds: anim.duration, height: anim.video?.height ?? null }] : []),
    ],
  );
});
