import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { probeInput, toProbeInfo, ffmpegInputArg } from '../src/ffmpeg/probe.js';
import { NommerError } from '../src/errors.js';
import { probeTimeline } from '../src/chunked/probe-frames.js';
import { probeSubtitles } from '../src/abr/extras.js';
import { keptProbe, PROBE_CACHE_LIMITS } from '../src/ffmpeg/probe-cache.js';
import { absoluteTool } from './helpers/tool-scripts.js';
import { FFPROBE, makeClip, tempDir } from './helpers/media.js';
import { countedTools } from './helpers/counted-tools.js';

test('rotation from the display matrix is clockwise degrees and swaps the display size', () => {
  const info = toProbeInfo({
    format: { format_name: 'mov', duration: '2.0' },
    streams: [
      {
        index: 0,
        codec_type: 'video',
        codec_name: 'h264',
        width: 320,
        height: 240,
        r_frame_rate: '30/1',
        avg_frame_rate: '30/1',
        side_data_list: [{ side_data_type: 'Display Matrix', rotation: -90 }],
      },
    ],
  });
  assert.equal(info.video!.rotation, 90);
  assert.equal(info.video!.displayWidth, 240);
  assert.equal(info.video!.displayHeight, 320);
});

test('cover art is not the video stream; vfr and interlacing are detected', () => {
  const info = toProbeInfo({
    format: { format_name: 'mp3' },
    streams: [
      { index: 0, codec_type: 'audio', codec_name: 'mp3', channels: 2, sample_rate: '44100' },
      { index: 1, codec_type: 'video', codec_name: 'mjpeg', width: 500, height: 500, disposition: { attached_pic: 1 } },
    ],
  });
  assert.equal(info.video, undefined);
  assert.equal(info.audio!.channels, 2);
  const v = toProbeInfo({
    format: {},
    streams: [
      {
        index: 0,
        codec_type: 'video',
        width: 720,
        height: 576,
        r_frame_rate: '50/1',
        avg_frame_rate: '25/1',
        field_order: 'tt',
      },
    ],
  }).video!;
  assert.equal(v.vfr, true);
  assert.equal(v.interlaced, true);
  assert.equal(v.fps, 25);
});

test('local inputs are passed to ffmpeg as file: URLs, so a leading dash is not an option', () => {
  assert.match(ffmpegInputArg('-i.mov'), /^file:\/.*\/-i\.mov$/);
  assert.equal(ffmpegInputArg('https://example.com/a.mp4'), 'https://example.com/a.mp4');
});

test('probing real clips and bad inputs', async () => {
  const d = tempDir();
  try {
    const clip = makeClip(join(d.path, 'a b $(x).mp4'), { seconds: 1, audioChannels: 1 });
    const info = await probeInput(FFPROBE, clip);
    assert.equal(info.video!.width, 320);
    assert.equal(info.audio!.channels, 1);
    assert.ok(Math.abs(info.duration - 1) < 0.1);
    const missing = probeInput(FFPROBE, join(d.path, 'nope.mov'));
    await assert.rejects(missing, (e: unknown) => e instanceof NommerError && e.code === 'INPUT_NOT_FOUND');
    const text = join(d.path, 'notes.mov');
    writeFileSync(text, 'this is not a movie\n'.repeat(50));
    await assert.rejects(
      probeInput(FFPROBE, text),
      (e: unknown) => e instanceof NommerError && e.code === 'INPUT_UNDECODABLE',
    );
    const empty = join(d.path, 'empty.mp4');
    writeFileSync(empty, '');
    await assert.rejects(
      probeInput(FFPROBE, empty),
      (e: unknown) => e instanceof NommerError && e.code === 'INPUT_UNDECODABLE' && /empty/.test(e.message),
    );
    await assert.rejects(
      probeInput(FFPROBE, d.path),
      (e: unknown) => e instanceof NommerError && e.code === 'INPUT_UNREADABLE' && /directory/.test(e.message),
    );
    const fifo = join(d.path, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(
      probeInput(FFPROBE, fifo),
      (e: unknown) => e instanceof NommerError && e.code === 'INPUT_UNREADABLE' && /FIFO/.test(e.message),
    );
  } finally {
    d.cleanup();
  }
});

test("a file probed again, unchanged, is read from the probe cache (its streams, its subtitles, and the planner's packet list); a file written since, or one that failed, runs ffprobe again", async () => {
  const d = tempDir();
  const saved = { cache: process.env.XDG_CACHE_HOME, log: process.env.NOMMER_TEST_STARTS_LOG };
  const tools = countedTools();
  process.env.XDG_CACHE_HOME = join(d.path, 'cache');
  process.env.NOMMER_TEST_STARTS_LOG = tools.env.NOMMER_TEST_STARTS_LOG;
  const probes = () => tools.starts().filter((s) => s.tool === 'ffprobe').length;
  try {
    const clip = makeClip(join(d.path, 'clip.mp4'), { seconds: 1 });
    const first = await probeInput(tools.env.NOMMER_FFPROBE, clip);
    const again = await probeInput(tools.env.NOMMER_FFPROBE, clip);
    assert.deepEqual(again, first);
    assert.equal(probes(), 1, 'the second probe of the same file started no ffprobe');
    // The extras task's subtitle listing asks for the same probe: it reads it too.
    assert.deepEqual(await probeSubtitles(tools.env.NOMMER_FFPROBE, clip), []);
    assert.equal(probes(), 1, 'listing the subtitles after the probe started no ffprobe');

    // Written again in place (same path, same inode): probed again, and what it is now is seen.
    makeClip(clip, { seconds: 1, width: 160, height: 120 });
    const rewritten = await probeInput(tools.env.NOMMER_FFPROBE, clip);
    assert.equal(rewritten.video!.width, 160);
    assert.equal(probes(), 2);

    // The chunk planner's two probes (streams, then every packet) are kept too: the scene task and
    // a re-plan read the list the planner made.
    const timeline = await probeTimeline(tools.env.NOMMER_FFPROBE, clip);
    assert.equal(probes(), 4);
    assert.deepEqual(await probeTimeline(tools.env.NOMMER_FFPROBE, clip), timeline);
    assert.equal(probes(), 4, 'the second plan of the same file started no ffprobe');
    assert.equal(timeline.timeline.times.length, 25, 'one time per frame of the 1 s clip at 25 fps');

    // A failure is not kept: the file is looked at every time.
    const text = join(d.path, 'notes.mov');
    writeFileSync(text, 'this is not a movie\n'.repeat(50));
    for (let i = 0; i < 2; i++) await assert.rejects(probeInput(tools.env.NOMMER_FFPROBE, text), /cannot decode/);
    assert.equal(probes(), 6);
  } finally {
    for (const [k, v] of [
      ['XDG_CACHE_HOME', saved.cache],
      ['NOMMER_TEST_STARTS_LOG', saved.log],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    d.cleanup();
  }
});

test('the probe cache stays small: past its bound in bytes the oldest entries go, and a larger probe is not kept', () => {
  const d = tempDir();
  const saved = { cache: process.env.XDG_CACHE_HOME, bytes: PROBE_CACHE_LIMITS.bytes };
  process.env.XDG_CACHE_HOME = join(d.path, 'cache');
  PROBE_CACHE_LIMITS.bytes = 1 << 20; // 64 MB in use
  try {
    const file = join(d.path, 'film.mkv');
    writeFileSync(file, 'stand-in: the cache keys a file by its identity, not by what it holds');
    const ffprobe = absoluteTool(FFPROBE); // the cache keys the binary by its real path
    const slot = (arg: string) => keptProbe(ffprobe, file, ['-show_entries', arg]);
    const big = 'x'.repeat(640 << 10);
    slot('a').keep(big);
    assert.equal(slot('a').stdout?.length, big.length, 'kept');
    slot('b').keep(big); // 1.25 MB in all: the older one goes
    assert.equal(slot('a').stdout, undefined);
    assert.equal(slot('b').stdout?.length, big.length);
    slot('c').keep('x'.repeat(1100 << 10)); // alone over the bound: not kept, and nothing else goes
    assert.equal(slot('c').stdout, undefined);
    assert.equal(slot('b').stdout?.length, big.length);
  } finally {
    if (saved.cache === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved.cache;
    PROBE_CACHE_LIMITS.bytes = saved.bytes;
    d.cleanup();
  }
});
