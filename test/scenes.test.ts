// Scene cuts: detection with real ffmpeg on a title with cuts at known frames, the list it
// writes, and the pure planning that puts chunk boundaries on the cuts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MAX_CHUNKS, planChunks, type FrameTimeline } from '../src/chunked/plan.js';
import { sceneBoundaries, wantedLengths } from '../src/chunked/scene-plan.js';
import { cutsOnTimeline, detectScenes, parseSceneList, sceneArgs, sceneRecord } from '../src/chunked/scenes.js';
import { probeTimeline } from '../src/chunked/probe-frames.js';
import { FFMPEG, FFPROBE, tempDir } from './helpers/media.js';
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

test('the scene list ffmpeg writes is read as cuts (frame 0 and frames without a time are not cuts)', () => {
  const text = [
    'frame:0    pts:0       pts_time:0',
    'lavfi.scd.score=50',
    'frame:75   pts:38400   pts_time:3',
    'lavfi.scd.score=18.444',
    'frame:90   pts:NOPTS   pts_time:NOPTS',
    'lavfi.scd.score=12',
    '',
  ].join('\n');
  assert.deepEqual(parseSceneList(text), [{ frame: 75, time: 3, score: 18.444 }]);
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

test('cuts are moved onto the timeline by time when the decoded index disagrees', () => {
  const tl = { times: [0, 0.04, 0.08, 0.12, 0.16], fps: 25 };
  assert.deepEqual(
    cutsOnTimeline(
      [
        { frame: 3, time: 0.12, score: 20 },
        { frame: 1, time: 0.081, score: 30 }, // index off by one: the time says frame 2
        { frame: 4, time: 9, score: 30 }, // no frame at 9 s
      ],
      tl,
    ),
    [
      { frame: 2, time: 0.08, score: 30 },
      { frame: 3, time: 0.12, score: 20 },
    ],
  );
});

test('the detection command reads video only, scaled down, and refuses a list path that needs escaping', () => {
  const args = sceneArgs('/in/a b.mp4', '/tmp/x/cuts.txt', { threshold: 10, width: 160 });
  assert.ok(args.includes('-an') && args.includes('-copyts'));
  const vf = args[args.indexOf('-vf') + 1]!;
  assert.match(vf, /^scale=160:-2/);
  assert.match(vf, /scdet/);
  assert.match(vf, /file=\/tmp\/x\/cuts\.txt$/);
  assert.throws(() => sceneArgs('/in.mp4', '/tmp/a:b,c/cuts.txt', { threshold: 10, width: 160 }));
});

test('detection finds every hard cut of a joined title to the frame, and nothing else', async () => {
  const d = tempDir();
  dirs.push(d);
  const title = makeCutTitle(join(d.path, 'title.mp4'), [3, 4, 2, 3.2, 2.8, 2.4, 3]);
  const rec = await detectScenes(FFMPEG, title.path);
  assert.ok(sceneRecord.safeParse(rec).success);
  assert.equal(rec.frames, title.frames);
  assert.deepEqual(
    rec.cuts.map((c) => c.frame),
    title.cuts,
  );
  const src = await probeTimeline(FFPROBE, title.path);
  assert.deepEqual(
    cutsOnTimeline(rec.cuts, src.timeline).map((c) => c.frame),
    title.cuts,
  );
  for (const c of rec.cuts) assert.ok(Math.abs(c.time - c.frame / 25) < 1e-6, 'the time is the frame time');
});
