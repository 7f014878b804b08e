// Issue 14: every video output reports SSIM/PSNR (equal to a fresh measurement), and a quality
// target lands in its window — VP9 and AV1, whole-file and chunked (in-process and on feederd's
// workers) — on two generated clips of very different complexity: a flat test pattern and a
// noisy zooming fractal. Clips are tiny (160x120, 12 fps, 3 s) so the searches stay cheap.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { encode } from '../src/encode.js';
import { localFileStorage } from '../src/backends.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { getPreset } from '../src/presets/registry.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { measureGraph, parseScores } from '../src/quality/measure.js';
import { aimOf, correctedCrf, nextStep, sampleFilters, sampleWindows } from '../src/quality/search.js';
import { reachTarget } from '../src/quality/run-search.js';
import {
  inWindow,
  parseTarget,
  type ChunkedSearchRecord,
  type OutputQuality,
  type SearchRecord,
} from '../src/quality/types.js';
import { qualitySets } from '../src/jobspec.js';
import { doctorReport } from '../src/doctor.js';
import { loadConfig } from '../src/config.js';
import { qualityText } from '../src/tui/format.js';
import { FFMPEG, tempDir } from './helpers/media.js';
import { chunkedRun, runAll, ssim } from './helpers/chunked.js';
import { nommer } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import { assertOneProbeOneEncode, countedTools } from './helpers/counted-tools.js';
import { psnr } from './helpers/psnr.js';
import { startFeederd, waitForJob, isFinal } from './helpers/feederd.js';

const dirs: Array<{ cleanup(): void }> = [];
after(() => {
  for (const d of dirs) d.cleanup();
});
const work = tempDir('nommer-quality-');
dirs.push(work);

/** A lossless clip (keyframe every second, so it can be chunked), optionally with a tone. */
function clip(name: string, source: string, audio = false): string {
  const path = join(work.path, name);
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', source];
  if (audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', '-g', '12');
  if (audio) args.push('-c:a', 'aac');
  args.push(path);
  const r = spawnSync(FFMPEG, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`clip ${name}: ${r.stderr}`);
  return path;
}
const FLAT = clip('flat.mkv', 'testsrc2=size=160x120:rate=12', true);
const NOISY = clip('noisy.mkv', 'mandelbrot=size=160x120:rate=12,noise=alls=5:allf=t');
const ff = locateFfmpeg();

function presetWith(name: string, target?: string) {
  return target ? applyOverrides(getPreset(name), qualitySets({ target })) : getPreset(name);
}

function assertLands(score: number, x: number, what: string): void {
  assert.ok(score >= x - 0.003 && score <= x + 0.006, `${what}: SSIM ${score} is outside [${x - 0.003}, ${x + 0.006}]`);
}

// ---- pure parts ---------------------------------------------------------------------------

test('a target is metric=value in range; anything else is a USAGE error that shows an example', () => {
  assert.deepEqual(parseTarget('ssim=0.985'), { metric: 'ssim', value: 0.985 });
  assert.deepEqual(parseTarget('PSNR:40'), { metric: 'psnr', value: 40 });
  for (const bad of ['ssim', 'ssim=1.5', 'vmf=90', 'ssim=-1', 'psnr=0.9'])
    assert.throws(
      () => parseTarget(bad),
      (e: Error & { code?: string; hint?: string }) => e.code === 'USAGE' && /e\.g\./.test(e.hint ?? ''),
      bad,
    );
  assert.throws(() => qualitySets({ target: 'ssim=0.98', measure: false }), /cannot go with --no-quality/);
  assert.deepEqual(qualitySets({ configMeasure: false }), ['quality.measure=false']);
  assert.deepEqual(qualitySets({ target: 'ssim=0.98', configMeasure: false }), [
    'quality.target=ssim=0.98',
    'quality.measure=true',
  ]);
});

test('the search interpolates to the highest CRF that reaches the aim, and says when a target is out of reach', () => {
  const target = { metric: 'ssim' as const, value: 0.95 };
  // A codec whose SSIM falls smoothly with CRF (1 - ssim doubles every 10 steps).
  const curve = (crf: number) => 1 - 0.001 * 2 ** (crf / 10);
  const tried: Array<{ crf: number; score: number }> = [];
  for (let i = 0; i < 10; i++) {
    const step = nextStep(target, tried, 30);
    if ('done' in step) {
      assert.equal(step.note, undefined);
      assert.ok(curve(step.done) >= target.value, 'the settled CRF reaches the target');
      assert.ok(inWindow(target, curve(step.done)));
      assert.ok(tried.length <= 4, `interpolation needs few probes, took ${tried.length}`);
      break;
    }
    tried.push({ crf: step.next, score: curve(step.next) });
    assert.ok(i < 9, 'the search settles');
  }
  const unreachable = (crf: number) => 0.9 - crf * 0.001;
  const t2: Array<{ crf: number; score: number }> = [];
  let last = nextStep(target, t2, 30);
  while ('next' in last) {
    t2.push({ crf: last.next, score: unreachable(last.next) });
    last = nextStep(target, t2, 30);
  }
  assert.match(last.note ?? '', /out of reach/);
  // A final file that scores below its samples moves the CRF down.
  const samples = [
    { crf: 40, score: 0.96 },
    { crf: 45, score: 0.951 },
  ];
  const next = correctedCrf(target, samples, [{ crf: 45, score: 0.944 }]);
  assert.ok(next !== undefined && next < 45, `corrected to ${next}`);
  assert.ok(aimOf(target) > target.value);
});

test('a target out of reach is said in the record, with the safety cap when it bound, and a missed final file is corrected', async () => {
  const target = { metric: 'ssim' as const, value: 0.98 };
  // Held by the cap: every CRF gives the same 0.9 at the cap's bitrate.
  const capped = await reachTarget({
    target,
    start: 35,
    samples: { count: 1, seconds: 3 },
    capKbps: 100,
    probe: async () => 0.9,
    encodeFinal: async () => ({ quality: { ssim: 0.9, psnr: 30 }, kbps: 99 }),
  });
  assert.equal(capped.record.reached, false);
  assert.match(capped.record.note ?? '', /out of reach.*safety bitrate cap \(100 kbit\/s\) bound/);
  assert.equal(capped.record.capBound, true);
  // Samples say CRF 40 reaches 0.98; the final file at 40 scores lower, so it is corrected down.
  const curve = (crf: number) => 1 - 0.0005 * 2 ** (crf / 10);
  const finals: number[] = [];
  const corrected = await reachTarget({
    target,
    start: 30,
    samples: { count: 2, seconds: 3 },
    capKbps: null,
    probe: async (crf) => curve(crf),
    encodeFinal: async (crf) => {
      finals.push(crf);
      return { quality: { ssim: curve(crf) - 0.006, psnr: 40 }, kbps: 50 };
    },
  });
  assert.ok(corrected.record.corrections >= 1, JSON.stringify(corrected.record));
  assert.equal(corrected.record.reached, true, JSON.stringify(corrected.record));
  assert.ok(inWindow(target, corrected.final.quality.ssim));
  assert.equal(finals.at(-1), corrected.record.crf, 'the file left on disk is the one the record names');
});

test('samples grow with the input, a short input is its own sample, and both sides of a measurement pair frames by number at the output size', () => {
  assert.deepEqual(sampleWindows(5), []);
  assert.equal(sampleWindows(30).length, 2);
  assert.ok(sampleWindows(600).length > sampleWindows(60).length);
  for (const w of sampleWindows(120)) assert.ok(w.start >= 0 && w.end <= 120 && w.end > w.start);
  assert.match(sampleFilters(sampleWindows(30), 25)[0]!, /^select=between\(t\\,/);
  const g = measureGraph(
    { referenceStream: 0, referenceFilters: 'scale=80:60,setsar=1', width: 80, height: 60, pixFmt: 'yuv420p' },
    false,
  );
  assert.equal(g.match(/settb=1\/30,setpts=N/g)?.length, 2);
  assert.match(g, /\[1:0\]scale=80:60,setsar=1,scale=80:60,format=yuv420p/);
  assert.match(g, /\[d0\]\[r0\]ssim;\[d1\]\[r1\]psnr$/);
  assert.deepEqual(
    parseScores(
      '[Parsed_ssim_7 @ 0x1] SSIM Y:0.99 (20.0) U:0.98 (17) V:0.98 (17) All:0.987654 (19.1)\n[Parsed_psnr_8 @ 0x2] PSNR y:40 u:41 v:41 average:40.500000 min:39 max:42\n',
    ),
    { ssim: 0.987654, psnr: 40.5 },
  );
  assert.equal(qualityText({ ssim: 0.98, psnr: 38.2 }), 'SSIM 0.9800 · PSNR 38.20 dB');
});

// ---- measurement on every output ----------------------------------------------------------

test('by default a VP9 output takes its PSNR from the encoder: every frame, no second ffmpeg run, as a fresh psnr measurement says', async () => {
  for (const src of [FLAT, NOISY]) {
    const out = join(work.path, `encoder-psnr-${src === FLAT ? 'flat' : 'noisy'}.webm`);
    let spawns = 0;
    const r = await encode({
      ffmpeg: ff,
      storage: localFileStorage(),
      input: src,
      outputs: [{ preset: getPreset('webm'), path: out }],
      force: true,
      onSpawn: () => spawns++,
    });
    const q = r.outputs[0]!.quality!;
    const fresh = psnr(out, src);
    assert.equal(fresh.frames, 36);
    assert.equal(q.source, 'encoder', JSON.stringify(q));
    assert.equal(q.ssim, undefined);
    assert.deepEqual(q.sampling, 'full');
    // ffmpeg reports the encoder's figure to 0.01 dB: half a unit, and the filter's own rounding.
    assert.ok(Math.abs(q.psnr! - fresh.average) <= 0.006, `encoder ${q.psnr}, measured ${fresh.average}`);
    // Every frame's luma, as the filter measures each frame (both to 0.01 dB).
    const luma = q.pooledLuma!;
    assert.equal(luma.frames, 36);
    const mean = fresh.yFrames.reduce((a, x) => a + x, 0) / fresh.yFrames.length;
    assert.ok(Math.abs(luma.psnrY.mean - mean) <= 0.006, `luma mean ${luma.psnrY.mean}, filter's ${mean}`);
    assert.equal(luma.psnrY.min, Math.min(...fresh.yFrames));
    assert.ok(luma.psnrY.min <= luma.psnrY.p5 && luma.psnrY.p5 <= luma.psnrY.mean, JSON.stringify(luma));
    assert.equal(q.pooled, undefined);
    // The encode's own runs only: no measuring run after it.
    assert.equal(spawns, r.commands.length, JSON.stringify(r.commands));
    assert.ok(!r.commands.flat().includes('+psnr'), 'the commands shown are the encode as the user would run it');
  }
});

test('every video output reports SSIM and PSNR equal to a fresh measurement when SSIM is asked for, on flat and noisy clips (and --no-quality skips it)', async () => {
  // The CLI path (encode, piped: the final line of each output says its scores) on the flat clip
  // with audio, the library on the noisy one. The --json record of `encode` is read below
  // (--no-quality) and, with its scores, in test/quality-trust.test.ts. The CLI's main() runs in
  // this process here (a `nommer` start costs about a second of CPU); the --no-quality run below
  // goes through the real binary, whose processes it counts.
  const flatOut = join(work.path, 'flat-plain.webm');
  // Every frame (quality.sampleEvery=1): the default samples (test/quality-sampling.test.ts).
  const r = await nommerInProcess([
    'encode',
    FLAT,
    '-o',
    flatOut,
    '-f',
    '--set',
    'quality.sampleEvery=1',
    '--set',
    'quality.ssim=true',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const line =
    /flat-plain\.webm {2}\(webm, [^)]+\) {2}SSIM (0\.\d{4}) \(p5 0\.\d{4}\) · PSNR (\d+\.\d{2}) dB \(p5 \d+\.\d{2}\)\n/.exec(
      r.stdout,
    );
  assert.ok(line, r.stdout);
  const flatQ: OutputQuality = { ssim: Number(line[1]), psnr: Number(line[2]) };
  const noisyOut = join(work.path, 'noisy-plain.webm');
  const lib = await encode({
    ffmpeg: ff,
    storage: localFileStorage(),
    input: NOISY,
    outputs: [
      { preset: applyOverrides(getPreset('webm'), ['quality.sampleEvery=1', 'quality.ssim=true']), path: noisyOut },
    ],
    force: true,
  });
  const noisyQ = lib.outputs[0]!.quality!;
  assert.equal(noisyQ.source, undefined, 'decoded: the record says no other source');
  for (const [q, out, src] of [
    [flatQ, flatOut, FLAT],
    [noisyQ, noisyOut, NOISY],
  ] as const) {
    const fresh = ssim(out, src);
    assert.equal(fresh.frames, 36);
    // The line rounds to 4 decimals: half a unit of the last one more.
    assert.ok(Math.abs(q.ssim! - fresh.all) <= 0.00205, `reported ${q.ssim}, measured ${fresh.all}`);
    assert.ok(q.psnr! > 20 && q.psnr! < 60, `psnr ${q.psnr}`);
  }
  assert.ok(Math.abs(flatQ.ssim! - noisyQ.ssim!) > 0.005, `the clips differ: ${flatQ.ssim} vs ${noisyQ.ssim}`);

  const tools = countedTools();
  const off = await nommer(['encode', FLAT, '-o', flatOut, '--json', '-f', '--no-quality', '-p', 'webm'], {
    env: tools.env,
  });
  assert.equal(off.code, 0, off.stderr);
  const offQ = (JSON.parse(off.stdout) as { outputs: Array<{ quality: OutputQuality }> }).outputs[0]!.quality;
  assert.equal(offQ.ssim, undefined);
  assert.match(offQ.skipped ?? '', /off/);
  // The processes `nommer encode` started: one ffprobe (the input's) and one ffmpeg (the encode).
  assertOneProbeOneEncode(tools, FLAT);
  // What `doctor --json` reports (its report, in-process; the command itself: test/cli.test.ts).
  const metrics = (await doctorReport(await loadConfig({ cwd: work.path }))).quality;
  assert.ok(metrics.metrics.includes('ssim') && metrics.metrics.includes('psnr'));
  const hasVmaf = spawnSync(FFMPEG, ['-hide_banner', '-filters'], { encoding: 'utf8' }).stdout.includes(' libvmaf ');
  assert.equal(metrics.metrics.includes('vmaf'), hasVmaf);
  assert.equal(metrics.missing.includes('vmaf'), !hasVmaf);
  const badTarget = await nommerInProcess(['encode', FLAT, '-o', flatOut, '-f', '--target', 'ssim=two']);
  assert.equal(badTarget.code, 2);
  assert.match(badTarget.stderr, /--target takes metric=value/);
});

// ---- targets, whole file ------------------------------------------------------------------

// One target per preset and clip: 0.95 is searched for too, chunked (below: av1 on the noisy
// clip; on feederd: webm, the default, on the noisy clip).
for (const [preset, x, input, label] of [
  ['webm', 0.98, NOISY, 'noisy'],
  ['av1', 0.98, FLAT, 'flat'],
  // Settles on its second probe (CRF 29): the final takes that probe's encode.
  ['av1', 0.98, NOISY, 'noisy'],
] as const) {
  test(`--target ssim=${x} with ${preset} lands in its window on the ${label} clip, whole file, and records its search`, async () => {
    const out = join(work.path, `${label}-${preset}-${x}.webm`);
    let spawns = 0;
    const r = await encode({
      ffmpeg: ff,
      storage: localFileStorage(),
      input,
      outputs: [{ preset: presetWith(preset, `ssim=${x}`), path: out }],
      force: true,
      onSpawn: () => spawns++,
    });
    const q = r.outputs[0]!.quality!;
    const s = q.search as SearchRecord;
    assertLands(q.ssim!, x, 'reported');
    // The input is its own sample: a final at a probed CRF takes the probe's encode and scores
    // (the noisy clip has no audio, so the probe ran the final's command; the flat one has a tone).
    const probes = s.tried.filter((p) => p.on === 'samples');
    if (s.corrections === 0) {
      const taken = input === NOISY && probes.some((p) => p.crf === s.crf);
      // A probe is an encode and a measurement; the final an encode (its measurement reports no pid).
      assert.equal(spawns, 2 * probes.length + (taken ? 0 : 1), `${spawns} ffmpeg runs, taken: ${taken}`);
      if (taken) assert.equal(q.ssim, probes.find((p) => p.crf === s.crf)!.score);
      if (preset === 'av1' && input === NOISY) assert.ok(taken, `a case that takes its probe: ${JSON.stringify(s)}`);
    }
    const fresh = ssim(out, input).all;
    assertLands(fresh, x, 'measured again');
    assert.ok(Math.abs(fresh - q.ssim!) <= 0.002);
    assert.equal(s.target, `ssim=${x}`);
    assert.equal(s.reached, true);
    assert.ok(Number.isInteger(s.crf) && s.crf >= 0 && s.crf <= 63);
    assert.ok(s.tried.some((p) => p.on === 'samples') && s.tried.some((p) => p.on === 'final' && p.crf === s.crf));
    assert.equal(s.samples.count, 1, 'a 3 s input is its own sample');
    assert.ok(Math.abs(s.samples.seconds - 3) < 0.1);
    assert.ok(s.capKbps !== null && s.capKbps > 0 && s.capBound === false);
    assert.ok(s.seconds > 0);
  });
}

test('--target psnr=X lands within 0.3 dB below to 0.6 dB above it', async () => {
  const out = join(work.path, 'flat-psnr.webm');
  const r = await encode({
    ffmpeg: ff,
    storage: localFileStorage(),
    input: FLAT,
    outputs: [{ preset: presetWith('webm', 'psnr=36'), path: out }],
    force: true,
  });
  const q = r.outputs[0]!.quality!;
  assert.ok(q.psnr! >= 35.7 && q.psnr! <= 36.6, `PSNR ${q.psnr}`);
  assert.equal((q.search as SearchRecord).target, 'psnr=36');
  assert.equal((q.search as SearchRecord).reached, true);
});

test('a longer input is searched on samples cut from it, and the final file is verified (and corrected) to land in the window', async () => {
  const long = join(work.path, 'long.mkv');
  const r0 = spawnSync(
    FFMPEG,
    [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=12', '-t', '10'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', long],
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r0.status, 0, r0.stderr);
  const out = join(work.path, 'long.webm');
  const r = await encode({
    ffmpeg: ff,
    storage: localFileStorage(),
    input: long,
    outputs: [{ preset: presetWith('webm', 'ssim=0.97'), path: out }],
    force: true,
  });
  const q = r.outputs[0]!.quality!;
  const s = q.search as SearchRecord;
  assert.deepEqual(s.samples, { count: 2, seconds: 3 });
  assertLands(q.ssim!, 0.97, 'reported');
  assertLands(ssim(out, long).all, 0.97, 'measured again');
  assert.equal(s.reached, true, JSON.stringify(s));
  assert.equal(s.tried.filter((p) => p.on === 'final').length, s.corrections + 1);
  assert.ok(s.corrections <= 2);
});

// ---- targets, chunked (the workers' own code, in-process) ---------------------------------

// Two presets, two clips, two targets; av1 at 0.98 on the noisy clip is searched whole-file above.
for (const [preset, x, input, label] of [
  ['webm', 0.98, FLAT, 'flat'],
  ['av1', 0.95, NOISY, 'noisy'],
] as const) {
  test(`--target ssim=${x} with ${preset}, chunked: each chunk searched on its worker, the joined file lands in the window (${label} clip)`, async () => {
    const dir = tempDir('nommer-quality-chunked-');
    dirs.push(dir);
    const out = join(dir.path, 'out.webm');
    const p = presetWith(preset, `ssim=${x}`);
    // Two chunks (2 s asked of a 3 s clip, cut at a 1 s keyframe): a search on each chunk and a
    // joined file, as with more; each chunk more is a search of its own (probe encodes and their
    // measurements).
    const r = await chunkedRun(input, out, p as never, dir.path, { chunkSeconds: 2, workers: 2 });
    assert.ok(r.plan.chunks.length >= 2, `${r.plan.chunks.length} chunks`);
    const done = await runAll(r, 2);
    const q = (done.result!.quality as Array<{ uri: string; quality: OutputQuality }>)[0]!.quality;
    const s = q.search as ChunkedSearchRecord;
    assertLands(q.ssim!, x, 'reported');
    const fresh = ssim(out, input);
    assert.equal(fresh.frames, 36);
    assertLands(fresh.all, x, 'measured again');
    assert.ok(Math.abs(fresh.all - q.ssim!) <= 0.002);
    assert.equal(s.chunks.length, r.plan.chunks.length);
    for (const c of s.chunks) {
      assert.equal(c.reached, true, `chunk ${c.index}: ${JSON.stringify(c)}`);
      assert.ok(c.tried.length >= 1 && Number.isInteger(c.crf));
    }
    assert.equal(s.reached, true);
  });
}

// ---- on the fleet: feederd, its workers, the job record ----------------------------------

test('on feederd: a chunked job with a target searches per chunk on the workers, and status shows job.outputs[i].quality', async () => {
  const d = tempDir();
  dirs.push(d);
  // Two chunks of the 3 s clip, one per worker (see the chunked tests above).
  const f = await startFeederd(d.path, { workers: 2, config: { chunking: { chunkSeconds: 2 } } });
  try {
    const env = { ...f.env };
    const chunkedOut = join(d.path, 'chunked.webm');
    const plainOut = join(d.path, 'plain.webm');
    // submit and status through the CLI's main() in this process: what they send and print is
    // the binary's, without three `nommer` starts (the binary's own submit and status:
    // test/abr-jobs.test.ts; submit also test/loudness-chunked.test.ts).
    const a = await nommerInProcess(
      ['submit', NOISY, '-o', chunkedOut, '--chunked', '--target', 'ssim=0.95', '--detach', '--json'],
      { env, cwd: d.path },
    );
    assert.equal(a.code, 0, a.stderr);
    const b = await nommerInProcess(
      ['submit', FLAT, '-o', plainOut, '--no-chunked', '--detach', '--json', '--set', 'quality.sampleEvery=1'],
      {
        env,
        cwd: d.path,
      },
    );
    assert.equal(b.code, 0, b.stderr);
    const ids = [a, b].map((x) => (JSON.parse(x.stdout) as { jobs: Array<{ id: string }> }).jobs[0]!.id);
    for (const id of ids) {
      const j = await waitForJob(f.client, id, isFinal, 120_000);
      assert.equal(j.state, 'succeeded', JSON.stringify(j.error));
    }
    const st = await nommerInProcess(['status', ids[0]!, '--json'], { env, cwd: d.path });
    assert.equal(st.code, 0, st.stderr);
    const job = (JSON.parse(st.stdout) as { job: { outputs: Array<{ quality: OutputQuality }> } }).job;
    const q = job.outputs[0]!.quality;
    assertLands(q.ssim!, 0.95, 'chunked on the fleet');
    assertLands(ssim(chunkedOut, NOISY).all, 0.95, 'chunked on the fleet, measured again');
    const s = q.search as ChunkedSearchRecord;
    // A chunk may be out of reach (the fractal's first second is so plain that even CRF 63
    // scores above 0.956): the record must say so rather than call it reached.
    assert.ok(s.chunks.length >= 2, JSON.stringify(s));
    for (const c of s.chunks) assert.ok(c.reached || /^out of reach/.test(c.note ?? ''), JSON.stringify(c));
    assert.equal(s.reached, true);
    // A plain job on a worker: PSNR from the encoder, every frame, as the filter measures it.
    const plain = (await waitForJob(f.client, ids[1]!, isFinal)).outputs[0]!.quality as OutputQuality;
    assert.equal(plain.source, 'encoder', JSON.stringify(plain));
    assert.ok(Math.abs(plain.psnr! - psnr(plainOut, FLAT).average) <= 0.006, JSON.stringify(plain));
    assert.equal(plain.pooledLuma?.frames, 36);
    assert.equal(plain.search, undefined);
  } finally {
    await f.stop();
  }
});
