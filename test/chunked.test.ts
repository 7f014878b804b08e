// Chunked encoding: the pure planning (cuts on keyframes, exact frame ranges, fleet sizing), the
// argument builders, and — with real ffmpeg, the worker's own code path, no daemon — that a
// chunked encode matches an unchunked one on an MP4 and on an AVI with B-frames that starts late.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, copyFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MAX_CHUNKS, chunkCount, planChunks, simulateWallTime, type FrameTimeline } from '../src/chunked/plan.js';
import { encodeMessage, SQS_MAX_MESSAGE_BYTES } from '../src/adapters/aws/sqs-queue.js';
import { MESSAGE_VERSION } from '../src/messages.js';
import { assembleParams, chunkList, chunkParams, chunkedTasks, manifestUri } from '../src/chunked/tasks.js';
import { chunkFilters, chunkInputOptions, videoChunkCommand } from '../src/chunked/encode-chunk.js';
import { sha256File } from '../src/hash.js';
import { ALL_ENCODERS, audio, probeOf, video } from './helpers/probe-info.js';
import { concatList, joinArgs } from '../src/chunked/assemble.js';
import { unchunkableReason } from '../src/tasks/planner.js';
import { timelineFrom, withTrailingTimes } from '../src/chunked/probe-frames.js';
import { encode } from '../src/encode.js';
import { localFileStorage } from '../src/backends.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { getPreset } from '../src/presets/registry.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { FFMPEG, makeClip, tempDir } from './helpers/media.js';
import {
  chunkedRun,
  firstFrameTime,
  runAll,
  seekLanding,
  segmentLayout,
  ssim,
  timing,
  decodedTiming,
  videoKeyframes,
} from './helpers/chunked.js';

const dirs: Array<{ cleanup(): void }> = [];
after(() => {
  for (const d of dirs) d.cleanup();
});

function cfr(seconds: number, fps: number, gopSeconds: number, start = 0): FrameTimeline {
  const n = Math.round(seconds * fps);
  const times = Array.from({ length: n }, (_, i) => start + i / fps);
  const keyframes = times.flatMap((_, i) => (i % Math.round(gopSeconds * fps) === 0 ? [i] : []));
  return { times, keyframes, formatStart: 0, fps };
}

// ---- pure planning ---------------------------------------------------------------------------

test('chunk count: about duration / chunk length, raised to fill every wave of the fleet, never under half a chunk', () => {
  assert.equal(chunkCount(600, 60), 10);
  assert.equal(chunkCount(600, 60, 4), 12, 'three full waves of four');
  assert.equal(chunkCount(600, 60, 32), 20, 'not shorter than 30 s, even for 32 workers');
  assert.equal(chunkCount(100, 60, 1), 2);
  assert.equal(chunkCount(20, 60, 8), 1, 'too short to split');
  assert.equal(chunkCount(0, 60, 8), 1);
});

test('chunks start on source keyframes, partition the frames exactly, and select them half a frame early', () => {
  const tl = cfr(20, 25, 2);
  const plan = planChunks(tl, { chunkSeconds: 4 });
  assert.equal(plan.chunks.length, 5);
  assert.equal(plan.totalFrames, 500);
  assert.equal(
    plan.chunks.reduce((s, c) => s + c.frames, 0),
    500,
  );
  for (const [i, c] of plan.chunks.entries()) {
    assert.ok(tl.keyframes.includes(c.startFrame), `chunk ${i} starts on a keyframe`);
    assert.equal(c.startFrame, i === 0 ? 0 : plan.chunks[i - 1]!.endFrame, 'contiguous');
    assert.ok(Math.abs(c.selectStart - (c.startTime - 0.02)) < 1e-9, 'half a frame before its first frame');
    if (c.selectEnd !== null)
      assert.ok(Math.abs(c.selectEnd - (c.endTime! - 0.02)) < 1e-9, "half a frame before the next chunk's first frame");
  }
  assert.deepEqual(
    plan.chunks.map((c) => c.startFrame),
    [0, 100, 200, 300, 400],
  );
  assert.equal(plan.chunks[4]!.selectEnd, null, 'the last chunk runs to the end');
  assert.ok(Math.abs(plan.chunks.reduce((s, c) => s + c.duration, 0) - 20) < 1e-6, 'durations add up to the source');
  // Seek to the keyframe (2 s) before the chunk's own, half a frame early; the first decodes from the start.
  assert.deepEqual(
    plan.chunks.map((c) => c.seek),
    [null, 1.98, 5.98, 9.98, 13.98],
  );
});

test('boundaries move to the nearest keyframe when the ideal cut is between two', () => {
  const tl = cfr(10, 25, 3); // keyframes at 0, 3, 6, 9 s
  const plan = planChunks(tl, { chunkSeconds: 5 });
  assert.deepEqual(
    plan.chunks.map((c) => c.startTime),
    [0, 6],
    'the 5 s cut moves to the 6 s keyframe',
  );
});

test('a source whose first frame is late keeps the offset, and seeks count from the container start', () => {
  const tl = { ...cfr(8, 25, 1, 0.48), formatStart: 0 };
  const plan = planChunks(tl, { chunkSeconds: 2 });
  assert.equal(plan.videoOffset, 0.48);
  assert.equal(plan.chunks[0]!.selectStart, 0.46);
  assert.ok(
    plan.chunks[2]!.seek! > 0 && Math.abs(plan.chunks[2]!.seek! - (plan.chunks[2]!.startTime - 1 - 0.02)) < 1e-9,
  );
  const shifted = planChunks({ ...tl, formatStart: 0.4 }, { chunkSeconds: 2 });
  assert.ok(Math.abs(shifted.videoOffset - 0.08) < 1e-9);
  assert.ok(Math.abs(shifted.chunks[2]!.seek! - (plan.chunks[2]!.seek! - 0.4)) < 1e-9);
});

test('variable frame rate: margins come from the neighbouring frame gaps', () => {
  const times = [0, 0.1, 0.15, 0.2, 1.0, 1.01, 1.5, 2.0, 2.02, 2.5];
  const plan = planChunks({ times, keyframes: [0, 4, 7], formatStart: 0, fps: 10 }, { chunkSeconds: 1 });
  const c1 = plan.chunks[1]!;
  assert.equal(c1.startFrame, 4);
  assert.ok(Math.abs(c1.selectStart - (1.0 - 0.005)) < 1e-9, 'half the 10 ms gap after it');
  assert.equal(
    plan.chunks.reduce((s, c) => s + c.frames, 0),
    times.length,
  );
});

test('timelines come out in presentation order, and repeated timestamps are refused', () => {
  const tl = timelineFrom([
    { time: 0, key: true },
    { time: 0.12, key: false },
    { time: 0.04, key: false },
    { time: 0.08, key: true },
  ]);
  assert.deepEqual(tl, { times: [0, 0.04, 0.08, 0.12], keyframes: [0, 2] });
  assert.equal(
    timelineFrom([
      { time: 0, key: true },
      { time: 0, key: false },
    ]),
    null,
  );
  // An AVI's last decoded frames come without a timestamp: they follow at the frame rate.
  assert.deepEqual(
    withTrailingTimes(
      [
        { time: 1, key: true },
        { time: 1.04, key: false },
        { time: NaN, key: true },
      ],
      25,
    ),
    [
      { time: 1, key: true },
      { time: 1.04, key: false },
      { time: 1.08, key: false },
    ],
  );
  assert.equal(
    withTrailingTimes(
      [
        { time: 1, key: true },
        { time: NaN, key: false },
        { time: 1.08, key: false },
      ],
      25,
    ),
    null,
  );
});

test('the task graph: chunks and audio first, assemble after all of them, weights adding up to one', () => {
  const plan = planChunks(cfr(20, 25, 2), { chunkSeconds: 4 });
  const tasks = chunkedTasks(plan, { scratch: '/data/chunks/abc/', audio: true });
  assert.deepEqual(
    tasks.map((t) => t.key),
    ['chunk-000', 'chunk-001', 'chunk-002', 'chunk-003', 'chunk-004', 'audio', 'assemble'],
  );
  const asm = tasks.at(-1)!;
  assert.deepEqual(
    asm.deps,
    tasks.slice(0, -1).map((t) => t.key),
  );
  assert.ok(Math.abs(tasks.reduce((s, t) => s + t.weight, 0) - 1) < 0.001);
  for (const t of tasks.slice(0, -1)) assert.ok(chunkParams.safeParse(t.params).success);
  const p = assembleParams.parse(asm.params);
  // The chunk list travels by reference: stored under the scratch prefix, pinned by its SHA-256.
  const [list] = asm.objects!;
  assert.equal(p.chunks.uri, '/data/chunks/abc/chunk-list.json');
  assert.equal(list!.uri, p.chunks.uri);
  assert.equal(p.chunks.sha256, createHash('sha256').update(list!.text).digest('hex'));
  const { manifest } = chunkList.parse(JSON.parse(list!.text));
  assert.equal(manifest[1]!.uri, '/data/chunks/abc/chunk-001.webm');
  assert.equal(manifestUri(manifest[1]!.uri), '/data/chunks/abc/chunk-001.webm.json');
  assert.equal(p.audio!.uri, '/data/chunks/abc/audio.webm');
  assert.equal(
    chunkedTasks(plan, { scratch: 's3://b/p/chunks/x/', audio: false }).some((t) => t.key === 'audio'),
    false,
  );
});

test("chunk arguments: keep timestamps, seek without dropping, select the window before the preset's filters", () => {
  const window = { seek: 3.98, selectStart: 5.98, selectEnd: 9.98 };
  assert.deepEqual(chunkInputOptions(window), ['-copyts', '-ss', '3.980000', '-noaccurate_seek']);
  assert.deepEqual(chunkInputOptions(window, { fromStart: true }), ['-copyts']);
  assert.deepEqual(chunkInputOptions({ seek: null }), ['-copyts']);
  assert.deepEqual(chunkFilters({ selectStart: 0, selectEnd: null }), ['trim=start=0.000000', 'setpts=PTS-STARTPTS']);
  const src = {
    input: 'file:/in.avi',
    probe: probeOf(video({ width: 3840, height: 2160 }), audio()),
    preset: getPreset('webm'),
    dest: '/out.webm',
    encoders: ALL_ENCODERS,
  };
  const a = videoChunkCommand(src, window);
  assert.deepEqual(a.slice(0, 6), ['-copyts', '-ss', '3.980000', '-noaccurate_seek', '-i', 'file:/in.avi']);
  assert.equal(
    a[a.indexOf('-vf') + 1],
    'trim=start=5.980000:end=9.980000,setpts=PTS-STARTPTS,scale=1920:1080,setsar=1',
  );
  assert.ok(!a.includes('-c:a'), 'a chunk is video only');
  assert.deepEqual(videoChunkCommand(src, window, { fromStart: true }).slice(0, 3), ['-copyts', '-i', 'file:/in.avi']);
});

test('the join is one command: concat with exact durations, the offset carried, Cues to the front', () => {
  const list = concatList([
    { path: '/s/c0.webm', duration: 4 },
    { path: "/s/it's.webm", duration: null },
  ]);
  assert.equal(list, "ffconcat version 1.0\nfile '/s/c0.webm'\nduration 4.000000\nfile '/s/it'\\''s.webm'\n");
  const args = joinArgs({ list: '/s/l', audio: '/s/a.webm', videoOffset: 0.48, out: '/o.webm' });
  assert.deepEqual(args.slice(0, 2), ['-itsoffset', '0.480000']);
  assert.ok(args.join(' ').includes('-map 0:v:0 -map 1:a:0 -c copy -cues_to_front 1 -f webm /o.webm'));
  assert.equal(joinArgs({ list: '/s/l', audio: null, videoOffset: 0, out: '/o' }).includes('-itsoffset'), false);
});

test('only one one-pass WebM VP9/AV1 output is chunked', () => {
  const out = (name: string) => ({
    preset: getPreset(name, {}),
    uri: '/o',
  });
  assert.equal(unchunkableReason([out('webm')]), null);
  assert.equal(unchunkableReason([out('av1')]), null);
  assert.match(unchunkableReason([out('webm-2pass')])!, /two-pass/);
  assert.match(unchunkableReason([out('webm-vp8')])!, /VP9 and AV1/);
  assert.match(unchunkableReason([out('webm'), out('poster')])!, /exactly one output/);
});

test('wall-time simulation: chunks fill free slots in order; the serial tail stays', () => {
  assert.equal(simulateWallTime([10, 10, 10, 10], 2), 20);
  assert.equal(simulateWallTime([10, 10, 10, 10], 4, { perChunkOverhead: 1, serialTail: 3 }), 14);
  assert.equal(simulateWallTime([10, 10, 10], 2), 20, 'a half-empty last wave');
});

// ---- real ffmpeg -----------------------------------------------------------------------------

const ff = locateFfmpeg();
// Faster than the preset (speed 4), and quality-bound rather than capped by the 240p ladder's
// 218 kb/s: testsrc2 at that cap gives SSIM 0.985 against its own source, and two unchunked
// encodes that differ only in GOP length score 0.988 against each other.
const fastWebm = (extra: string[] = []) =>
  applyOverrides(getPreset('webm', {}), [
    'video.speed=4',
    'video.crf=32',
    'video.bitrateScale=4',
    // The tests measure SSIM themselves: no quality record (the product's measuring pass is the quality tests').
    'quality.measure=false',
    ...extra,
  ]) as unknown as Record<string, unknown> & { name: string };

async function compare(source: string, dir: string, opts: { chunkSeconds: number }) {
  const preset = fastWebm();
  const whole = join(dir, 'whole.webm');
  await encode({
    ffmpeg: ff,
    storage: localFileStorage(),
    input: source,
    outputs: [{ preset: preset as never, path: whole }],
    force: true,
  });
  const out = join(dir, 'chunked.webm');
  const r = await chunkedRun(source, out, preset, dir, { chunkSeconds: opts.chunkSeconds, workers: 2 });
  const done = await runAll(r, 2);
  return { whole, out, plan: r.plan, scratch: r.scratch, done };
}

function assertLikeWhole(c: Awaited<ReturnType<typeof compare>>, sourceFrames: number, fps: number) {
  const t = decodedTiming(c.out),
    w = timing(c.whole);
  assert.equal(t.frames, sourceFrames, 'every source frame, once');
  assert.ok(Math.abs(t.duration - w.duration) <= 1 / fps + 1e-6, `duration ${t.duration} vs unchunked ${w.duration}`);
  assert.ok(t.clean, t.errors);
  const layout = segmentLayout(c.out);
  assert.ok(
    layout.indexOf('Cues') >= 0 && layout.indexOf('Cues') < layout.indexOf('Cluster'),
    `Cues before the first Cluster: ${layout.slice(0, 6).join(',')}`,
  );
  // Seek to a keyframe at a seam and to one inside a chunk: both land exactly there.
  const keys = videoKeyframes(c.out);
  const seam =
    Math.round((c.plan.chunks[1]!.startTime - c.plan.chunks[0]!.startTime + c.plan.videoOffset) * 1000) / 1000;
  assert.ok(
    keys.some((k) => Math.abs(k - seam) < 0.0015),
    `a keyframe at the seam (${seam}) in ${keys.join(',')}`,
  );
  for (const k of [seam, keys[keys.length - 1]!]) {
    const land = seekLanding(c.out, k);
    assert.ok(land.key && Math.abs(land.pts - k) < 0.0015, `seek to ${k} landed on ${JSON.stringify(land)}`);
  }
  const s = ssim(c.out, c.whole);
  assert.equal(s.frames, sourceFrames);
  assert.ok(s.all >= 0.99, `SSIM ${s.all} against the unchunked encode`);
  const sizeRatio = statSize(c.out) / statSize(c.whole);
  assert.ok(Math.abs(sizeRatio - 1) <= 0.05, `size ratio ${sizeRatio.toFixed(3)}`);
  assert.equal(existsSync(c.scratch), false, 'intermediates removed');
  return { t, w, s, sizeRatio };
}

const statSize = (p: string) => statSync(p).size;

test('an MP4 encoded in chunks matches the unchunked encode: frames, duration, sync, Cues, seeks, SSIM, size', async () => {
  const d = tempDir();
  dirs.push(d);
  // 6 s in 2 s chunks: three chunks, two seams, and a chunk with a seam on either side (seek,
  // start and end of its window); a fourth chunk would be one more of the same, paid for with an
  // encode and three more ffmpeg/ffprobe starts.
  const src = makeClip(join(d.path, 'src.mp4'), { seconds: 6, fps: 25 });
  const c = await compare(src, d.path, { chunkSeconds: 2 });
  assert.equal(c.plan.chunks.length, 3);
  const m = assertLikeWhole(c, 150, 25);
  assert.ok(
    Math.abs(m.t.video - (m.t.audio ?? 0) - (m.w.video - (m.w.audio ?? 0))) <= 0.008,
    `A/V offset ${m.t.video - m.t.audio!} vs unchunked ${m.w.video - m.w.audio!}`,
  );
  console.log(
    `# mp4: SSIM ${m.s.all.toFixed(4)} (lowest frame ${m.s.min.toFixed(4)}), size ${m.sizeRatio.toFixed(3)}× unchunked`,
  );
});

test('an AVI with B-frames whose first frame is at 0.48 s keeps its A/V offset and every frame', async () => {
  const d = tempDir();
  dirs.push(d);
  const src = makeClip(join(d.path, 'src.avi'), {
    seconds: 8,
    fps: 25,
    extra: ['-g', '50', '-output_ts_offset', '0.48'],
  });
  const offset = firstFrameTime(src);
  assert.ok(offset > 0.4, `the source's first frame is late (${offset})`);
  // 8 s in 4 s chunks: one seam, and each chunk as long as a 16 s clip's in 4 s chunks (this mpeg4
  // source in 2 s chunks costs 7% more bytes than unchunked: a keyframe per chunk weighs more).
  const c = await compare(src, d.path, { chunkSeconds: 4 });
  assert.equal(c.plan.chunks.length, 2);
  assert.ok(Math.abs(c.plan.videoOffset - offset) < 1e-6);
  const m = assertLikeWhole(c, 200, 25);
  // The source has audio at 0 and video at 0.48: the join keeps exactly that (the unchunked
  // encode itself lands 7 ms late, from Opus's pre-skip).
  const sourceAv = offset;
  const av = m.t.video - (m.t.audio! + 0.007);
  assert.ok(Math.abs(av - sourceAv) <= 0.002, `A/V offset ${av} vs the source's ${sourceAv}`);
  assert.ok(
    Math.abs(m.t.video - m.t.audio! - (m.w.video - m.w.audio!)) <= 0.008,
    'within Opus pre-skip of the unchunked encode',
  );
  console.log(
    `# avi: SSIM ${m.s.all.toFixed(4)} (lowest frame ${m.s.min.toFixed(4)}), size ${m.sizeRatio.toFixed(3)}×, video starts ${m.t.video} (unchunked ${m.w.video}, source ${offset})`,
  );
});

test('assembly re-encodes a missing chunk and a short one instead of dropping them', async () => {
  const d = tempDir();
  dirs.push(d);
  // What is shown is which pieces are encoded again, not their quality: a quarter of the pixels, the
  // fastest speed, three chunks (the first kept, the second missing, the last short).
  const src = makeClip(join(d.path, 'src.mp4'), { seconds: 6, fps: 25, width: 160, height: 120 });
  const out = join(d.path, 'out.webm');
  const r = await chunkedRun(src, out, fastWebm(['video.speed=8']), d.path, { chunkSeconds: 2, workers: 1 });
  for (const t of r.tasks.filter((x) => x.type !== 'assemble')) await r.run(t.key);
  const [, c1, c2] = chunkList.parse(JSON.parse(r.tasks.at(-1)!.objects![0]!.text)).manifest;
  // chunk 1 vanished; chunk 2 lost its last frames, and its manifest entry vouches for the short file.
  rmSync(c1!.uri);
  const short = join(d.path, 'short.webm');
  execFileSync(FFMPEG, ['-v', 'error', '-i', c2!.uri, '-frames:v', '30', '-c', 'copy', short]);
  copyFileSync(short, c2!.uri);
  writeFileSync(
    manifestUri(c2!.uri),
    JSON.stringify({ index: 2, frames: c2!.frames, sha256: await sha256File(c2!.uri) }),
  );
  const done = await r.run('assemble');
  const repaired = done.result!.repaired as Array<{ piece: string; why: string }>;
  assert.deepEqual(
    repaired.map((x) => x.piece),
    ['chunk 1', 'chunk 2'],
  );
  assert.equal(repaired[0]!.why, 'missing');
  assert.match(repaired[1]!.why, /^short: 30 frames, expected 50/);
  assert.equal(timing(out).frames, 150);
  assert.ok(ssim(out, src).min > 0.5);
  await done.cleanup?.();
  assert.deepEqual(readdirSync(join(d.path, 'chunks')), []);
});

test('a very long input is split into at most MAX_CHUNKS chunks, so its assemble task still fits in one SQS message', async () => {
  // 3 hours at 25 fps with a keyframe every 2 s, 10 s chunks: 1080 wanted; an assemble message
  // of 930 entries already passed SQS's 256 KiB and stopped all dispatch.
  const n = 3 * 3600 * 25;
  const times = Array.from({ length: n }, (_, i) => i / 25);
  const keyframes = Array.from({ length: n / 50 }, (_, i) => i * 50);
  const plan = planChunks({ times, keyframes, formatStart: 0, fps: 25 }, { chunkSeconds: 10, workers: 64 });
  assert.equal(plan.chunks.length, MAX_CHUNKS);
  assert.equal(
    plan.chunks.reduce((s, c) => s + c.frames, 0),
    n,
    'every frame in exactly one chunk',
  );
  const tasks = chunkedTasks(plan, {
    scratch: 's3://a-bucket-with-a-long-name/nommer-staging/chunks/0f8fad5b-d9cb-469f-a165-70867728950e/',
    audio: true,
  });
  const assemble = tasks.at(-1)!;
  const message = {
    v: MESSAGE_VERSION,
    kind: 'task' as const,
    jobId: 'j_01kxxxxxxxxxxxxxxxxxxxxxxxxx',
    taskId: 'j_01kxxxxxxxxxxxxxxxxxxxxxxxxx.assemble',
    attempt: 1,
    type: 'assemble' as const,
    input: 's3://a-bucket-with-a-long-name/nommer-staging/inputs/some long input name.mov',
    outputs: [
      {
        preset: getPreset('webm') as unknown as Record<string, unknown> & { name: string },
        uri: 's3://a-bucket-with-a-long-name/out/some long input name.webm',
      },
    ],
    force: false,
    params: assemble.params,
  };
  const encoded = encodeMessage(message, 'the assemble task');
  assert.ok(
    Buffer.byteLength(encoded.MessageBody) < SQS_MAX_MESSAGE_BYTES * 0.75,
    `${Buffer.byteLength(encoded.MessageBody)} bytes`,
  );
});
