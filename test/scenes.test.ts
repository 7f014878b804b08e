// Scene cuts: detection with real ffmpeg on a title with cuts at known frames, the list it
// writes, and the pure planning that puts chunk boundaries on the cuts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_CHUNKS, planChunks, type FrameTimeline } from '../src/chunked/plan.js';
import { sceneBoundaries, wantedLengths } from '../src/chunked/scene-plan.js';
import {
  cutsOnTimeline,
  detectScenes,
  filterGraphValue,
  parseSceneList,
  sceneArgs,
  sceneRecord,
} from '../src/chunked/scenes.js';
import type { NommerError } from '../src/errors.js';
import { probeTimeline } from '../src/chunked/probe-frames.js';
import { parseConfig } from '../src/config.js';
import { FFPROBE, tempDir } from './helpers/media.js';
import { makeCutTitle } from './helpers/scenes.js';

const dirs: Array<{ cleanup(): void }> = [];
after(() => {
  for (const d of dirs) d.cleanup();
});

function cfr(seconds: number, fps: number, gopSeconds: number): FrameTimeline {
  const n = Math.round(seconds * fps);
  const times = Array.from({ length: n }, (_, i) => i / fps);
  const gop = Math.round(gopSeconds * fps);
  return { times, keyframes: times.flatMap((_, i) => (i % gop === 0 ? [i] : [])), formatStart: 0, fps };
}

/** Chunk lengths, seconds, of a plan. */
const lengths = (p: ReturnType<typeof planChunks>) => p.chunks.map((c) => c.duration);

// ---- planning (pure) ----------------------------------------------------------------------------

test('every cut in reach of the allowed lengths is a boundary, to the frame; chunks seek from the keyframe before', () => {
  const tl = cfr(15, 25, 2); // keyframes every 2 s, none at a cut
  const cuts = [75, 175, 225, 305];
  const plan = planChunks(tl, { chunkSeconds: 3, scenes: { cuts, minChunkSeconds: 2, maxChunkSeconds: 6 } });
  assert.deepEqual(
    plan.chunks.map((c) => c.startFrame),
    [0, ...cuts],
  );
  assert.deepEqual(
    plan.chunks.map((c) => c.sceneCut),
    [false, true, true, true, true],
  );
  assert.equal(
    plan.chunks.reduce((s, c) => s + c.frames, 0),
    375,
    'the chunks partition the frames',
  );
  // Frame 175 (7 s): its keyframe is 6 s; it decodes from the one before, 4 s (half a frame early).
  assert.equal(plan.chunks[2]!.seek, 3.98);
  assert.ok(Math.abs(plan.chunks[2]!.selectStart - (7 - 0.02)) < 1e-9, 'keeps frames from half a frame before 7 s');
});

test('a cut is passed over only for one nearer the wanted length; none makes a chunk shorter than min', () => {
  const tl = cfr(30, 25, 2);
  // 30 s in 8 chunks: 3.75 s wanted. Cuts at 1 s (too short), 3 s and 4.2 s (both in reach;
  // 4.2 is nearer), then one 1 s before the end.
  const plan = planChunks(tl, {
    chunkSeconds: 4,
    scenes: { cuts: [25, 75, 105, 725], minChunkSeconds: 2, maxChunkSeconds: 8 },
  });
  const starts = plan.chunks.map((c) => c.startFrame);
  assert.ok(!starts.includes(25), 'a cut 1 s in would make a chunk shorter than 2 s');
  assert.ok(starts.includes(105) && !starts.includes(75), 'the cut nearer 3.75 s wins');
  assert.ok(!starts.includes(725), 'a cut 1 s before the end would leave a chunk shorter than 2 s');
  for (const d of lengths(plan)) assert.ok(d >= 2 - 1e-9 && d <= 8 + 1e-9, `chunk of ${d} s is within [2, 8]`);
});

test('a long shot without a cut is cut at a keyframe near the wanted length, else at a frame', () => {
  const long = planChunks(cfr(40, 25, 2), {
    chunkSeconds: 5,
    scenes: { cuts: [900], minChunkSeconds: 2, maxChunkSeconds: 10 },
  });
  const starts = long.chunks.map((c) => c.startFrame);
  assert.ok(starts.includes(900), 'the one cut is a boundary');
  for (const c of long.chunks) {
    if (!c.sceneCut) assert.equal(c.startFrame % 50, 0, `chunk ${c.index} starts on a keyframe`);
    assert.ok(c.duration <= 10 + 1e-9 && c.duration >= 2 - 1e-9);
  }
  // Keyframes every 20 s: frames at the wanted length, but where a keyframe is as near (20 s).
  const sparse = planChunks(cfr(40, 25, 20), {
    chunkSeconds: 5,
    scenes: { cuts: [], minChunkSeconds: 2, maxChunkSeconds: 10 },
  });
  assert.deepEqual(
    sparse.chunks.map((c) => c.startFrame),
    [0, 125, 250, 375, 500, 625, 750, 875],
  );
  assert.ok(sparse.chunks.every((c) => !c.sceneCut));
});

test('randomized: chunks partition the source within [min, max], each boundary a cut, a keyframe or a frame', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let run = 0; run < 200; run++) {
    const fps = [24, 25, 30][run % 3]!;
    const seconds = 20 + Math.floor(rnd() * 200);
    const tl = cfr(seconds, fps, 1 + Math.floor(rnd() * 6));
    const n = tl.times.length;
    const cuts = Array.from({ length: Math.floor(rnd() * 60) }, () => 1 + Math.floor(rnd() * (n - 1)));
    const min = 1 + Math.floor(rnd() * 4);
    const chunkSeconds = min + Math.floor(rnd() * 8);
    const max = Math.max(2 * min, chunkSeconds) + Math.floor(rnd() * 10);
    const plan = planChunks(tl, {
      chunkSeconds,
      workers: 1 + Math.floor(rnd() * 8),
      scenes: { cuts, minChunkSeconds: min, maxChunkSeconds: max },
    });
    assert.equal(
      plan.chunks.reduce((s, c) => s + c.frames, 0),
      n,
    );
    for (const c of plan.chunks) {
      assert.ok(c.frames > 0);
      assert.equal(c.sceneCut, c.index > 0 && cuts.includes(c.startFrame));
      const tail = c.index === plan.chunks.length - 1;
      // A source shorter than min is one chunk; otherwise every chunk within bounds (a frame's slack).
      if (plan.chunks.length > 1) assert.ok(c.duration >= min - 1e-6, `run ${run}: chunk ${c.index} ${c.duration} s`);
      if (!tail || plan.chunks.length > 1) assert.ok(c.duration <= max + 1 / fps + 1e-6, `run ${run}: ${c.duration} s`);
    }
  }
});

test('a tiny minimum never makes more than MAX_CHUNKS chunks', () => {
  const tl = cfr(4000, 10, 1);
  const cuts = Array.from({ length: 3999 }, (_, i) => (i + 1) * 10);
  const plan = planChunks(tl, { chunkSeconds: 1, scenes: { cuts, minChunkSeconds: 1, maxChunkSeconds: 2 } });
  assert.ok(plan.chunks.length <= MAX_CHUNKS, `${plan.chunks.length} chunks`);
  const l = wantedLengths(4000, 4000, { minChunkSeconds: 1, maxChunkSeconds: 2 }, MAX_CHUNKS);
  assert.equal(l.min, 8);
  assert.equal(l.max, 16);
});

test('boundaries: the end counts as a candidate, so a short tail is not split off', () => {
  const tl = cfr(10, 25, 2);
  const b = sceneBoundaries(tl, [150], { wanted: 5, min: 2, max: 8 });
  assert.deepEqual(b, [
    { frame: 0, sceneCut: false },
    { frame: 150, sceneCut: true },
  ]);
  // Only a cut 9 s in, with max 8: the 10 s source is cut once, at a keyframe near 5 s.
  const b2 = sceneBoundaries(tl, [225], { wanted: 5, min: 2, max: 8 });
  assert.equal(b2.length, 2);
  assert.equal(b2[1]!.sceneCut, false);
});

// ---- detection ------------------------------------------------------------------------------------

test('the scene list ffprobe prints is read as cuts (frames without a time are not cuts)', () => {
  const text = [
    'pts_time=3.000000|tag:lavfi.scd.score=18.444',
    'pts_time=N/A|tag:lavfi.scd.score=12',
    'pts_time=7.000000|tag:lavfi.scd.score=22.7',
    '',
  ].join('\n');
  assert.deepEqual(parseSceneList(text), [
    { time: 3, score: 18.444 },
    { time: 7, score: 22.7 },
  ]);
  const r = sceneRecord.safeParse({
    v: 1,
    method: 'scdet',
    threshold: 10,
    width: 160,
    frames: 1,
    seconds: 0,
    cuts: [],
  });
  assert.ok(r.success);
});

test('cuts land on the timeline frame at their time; frame 0, repeats and times off the frames are dropped', () => {
  const tl = { times: [0, 0.04, 0.08, 0.12, 0.16, 1], fps: 25 };
  assert.deepEqual(
    cutsOnTimeline(
      [
        { time: 0.12, score: 20 },
        { time: 0.081, score: 30 },
        { time: 0.08, score: 10 }, // the same frame: the higher score stays
        { time: 0, score: 50 },
        { time: 0.5, score: 30 }, // in a gap of the timeline: no frame
        { time: 9, score: 30 },
      ],
      tl,
    ),
    [
      { frame: 2, time: 0.08, score: 30 },
      { frame: 3, time: 0.12, score: 20 },
    ],
  );
});

test('the detection graph reads the input by a file name escaped twice: no name adds a filter or an option', () => {
  const args = sceneArgs('/in/a b.mp4', { threshold: 10, width: 160 });
  const graph = args[args.indexOf('-i') + 1]!;
  assert.match(graph, /^movie=filename=file\\\\:\/in\/a b\.mp4:streams=dv:dec_threads=0,scale=160:-2/);
  assert.match(graph, /scdet=threshold=100,metadata=mode=select:key=lavfi\.scd\.score:value=10:function=greater$/);
  assert.equal(filterGraphValue("a'b:c,d[e];f\\g"), "a\\\\\\'b\\\\:c\\,d\\[e\\]\\;f\\\\\\\\g");
});

test('detection finds every hard cut of a joined title to the frame, and nothing else, whatever its file name', async () => {
  const d = tempDir();
  dirs.push(d);
  const dir = join(d.path, "odd 'name', [1]; a:b");
  mkdirSync(dir);
  const title = makeCutTitle(join(dir, "title's,x.mp4"), [3, 4, 2, 3.2, 2.8, 2.4, 3]);
  const src = await probeTimeline(FFPROBE, title.path);
  const rec = await detectScenes(FFPROBE, title.path, src.timeline);
  assert.ok(sceneRecord.safeParse(rec).success);
  assert.equal(rec.frames, title.frames);
  assert.deepEqual(
    rec.cuts.map((c) => c.frame),
    title.cuts,
  );
  for (const c of rec.cuts)
    assert.ok(Math.abs(c.time - c.frame / 25) < 1e-6 && c.score > 10, 'the time is the frame time');
  await assert.rejects(
    detectScenes(FFPROBE, join(d.path, 'missing.mp4'), src.timeline),
    (e: NommerError) => e.code === 'INPUT_UNDECODABLE',
  );
});

test('config: scene chunking on by default; min and max must keep chunkSeconds between them, max at least twice min', () => {
  const c = parseConfig({}).chunking;
  assert.equal(c.scenes, true);
  assert.equal(c.sceneThreshold, 10);
  assert.equal(
    parseConfig({ chunking: { chunkSeconds: 10, minChunkSeconds: 4, maxChunkSeconds: 30 } }).chunking.maxChunkSeconds,
    30,
  );
  assert.throws(
    () => parseConfig({ chunking: { chunkSeconds: 10, minChunkSeconds: 12 } }),
    /minChunkSeconds.*must keep chunkSeconds/s,
  );
  assert.throws(
    () => parseConfig({ chunking: { chunkSeconds: 10, maxChunkSeconds: 8 } }),
    /maxChunkSeconds.*must keep chunkSeconds/s,
  );
  assert.throws(
    () => parseConfig({ chunking: { chunkSeconds: 10, minChunkSeconds: 8, maxChunkSeconds: 12 } }),
    /maxChunkSeconds.*at least twice minChunkSeconds/s,
  );
  assert.throws(() => parseConfig({ chunking: { sceneThreshold: 150 } }), /sceneThreshold/);
});
