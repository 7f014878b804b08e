// Issue 14, the search's cost: a search settles on a CRF its probes' curve predicts (no probe
// there) only when the curve is trusted, a correction reads the samples' curve at an unprobed
// CRF, probes measure their target's metric alone, and the samples of a whole local file are
// cut by seeking to each window (the same pictures a `select` over the whole file gives).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { locateFfmpeg, ffmpegCapabilities } from '../src/ffmpeg/locate.js';
import { probeInput } from '../src/ffmpeg/probe.js';
import { getPreset } from '../src/presets/registry.js';
import { compileJob } from '../src/presets/compile.js';
import {
  cutArgs,
  intermediateCodec,
  measureAgainstSource,
  RAW_REFERENCE_MAX_BYTES,
  rawReference,
  sameCommands,
  sampleEncoder,
  takeProbe,
  withReferences,
} from '../src/quality/encode-quality.js';
import { measureGraph, measureQuality } from '../src/quality/measure.js';
import { aimOf, correctedCrf, nextStep, sampleWindows, scoreAt } from '../src/quality/search.js';
import { inWindow } from '../src/quality/types.js';
import { FFMPEG, FFPROBE, tempDir } from './helpers/media.js';

const work = tempDir('nommer-quality-search-');
after(() => work.cleanup());
const target = { metric: 'ssim' as const, value: 0.95 };
/** A curve exactly linear on the search's scale: 1 - SSIM doubles every 10 CRF steps. */
const curve = (crf: number) => 1 - 0.001 * 2 ** (crf / 10);

test('two probes of a measured slope near the aim settle on the predicted CRF without probing it', () => {
  // 1 - 0.001 * 2^(c/10) crosses the aim (0.9515) at c = 56.0: probes at 45 and 55 are on the
  // good side, 55 scores 0.9548, within 0.67 of a window (0.009) of the aim.
  const tried = [
    { crf: 45, score: curve(45) },
    { crf: 55, score: curve(55) },
  ];
  const step = nextStep(target, tried, 40);
  assert.ok('done' in step, JSON.stringify(step));
  assert.equal(step.done, 56);
  assert.ok(step.predicted !== undefined && Math.abs(step.predicted - curve(56)) < 1e-9, JSON.stringify(step));
  assert.ok(inWindow(target, curve(step.done)));
  // One probe (a typical slope, not a measured one) is never trusted: the next CRF is probed.
  assert.ok('next' in nextStep(target, tried.slice(0, 1), 40));
  // A measured slope, but the nearest probe far from the aim (0.9942 at 20, 0.9840 at 30): probe.
  const far = nextStep(
    target,
    [
      { crf: 20, score: curve(20) },
      { crf: 30, score: curve(30) },
    ],
    20,
  );
  assert.ok('next' in far, JSON.stringify(far));
  // Bracketing probes are interpolated: 52 (good) and 58 (bad, 0.0072 below the aim) put it at 56.
  const bracket = nextStep(
    target,
    [
      { crf: 52, score: curve(52) },
      { crf: 58, score: curve(58) },
    ],
    52,
  );
  assert.ok('done' in bracket && bracket.done === 56 && bracket.predicted !== undefined, JSON.stringify(bracket));
  // Brackets whose nearer probe is more than 1.5 windows from the aim are probed between.
  const wide = nextStep(
    target,
    [
      { crf: 50, score: curve(50) },
      { crf: 62, score: curve(62) },
    ],
    50,
  );
  assert.ok('next' in wide, JSON.stringify(wide));
  // The range's ends are probed, never predicted: out of reach must be seen, not guessed.
  const flat = (crf: number) => 0.99 - crf * 0.00001;
  const high = nextStep(
    target,
    [
      { crf: 55, score: flat(55) },
      { crf: 61, score: flat(61) },
    ],
    55,
  );
  assert.ok('next' in high && high.next === 63, JSON.stringify(high));
  assert.ok(aimOf(target) > target.value);
});

test("the samples' curve is read between and past its probes, and a correction shifts it at the final's unprobed CRF", () => {
  const probes = [
    { crf: 40, score: curve(40) },
    { crf: 50, score: curve(50) },
  ];
  for (const c of [40, 44, 50, 55]) assert.ok(Math.abs(scoreAt('ssim', probes, c) - curve(c)) < 1e-9, `at ${c}`);
  // The final at 56 (not probed) scored 0.004 below its samples' curve: the correction moves to
  // the CRF where the shifted curve meets the aim, lower than 56.
  const next = correctedCrf(target, probes, [{ crf: 56, score: curve(56) - 0.004 }]);
  assert.ok(next !== undefined && next < 56 && next >= 52, `corrected to ${next}`);
  // Had the final scored as its samples predicted, a correction would have nowhere to go but its own CRF.
  assert.equal(correctedCrf(target, probes, [{ crf: 56, score: curve(56) }]), undefined);
});

test('a probe measures its target metric alone; the full measurement keeps SSIM and PSNR', () => {
  const r = { referenceStream: 0, referenceFilters: '', width: 80, height: 60, pixFmt: 'yuv420p' };
  assert.equal(
    measureGraph(r, false, 'ssim'),
    '[0:v:0]settb=1/30,setpts=N,format=yuv420p[d0];[1:0]scale=80:60,format=yuv420p,settb=1/30,setpts=N[r0];[d0][r0]ssim',
  );
  assert.match(measureGraph(r, false, 'psnr'), /\[d0\]\[r0\]psnr$/);
  assert.match(measureGraph(r, false), /split=2\[d0\]\[d1\].*\[d0\]\[r0\]ssim;\[d1\]\[r1\]psnr$/);
});

test('the samples of a whole local file are cut by seeking to each window; a chunk or a remote input is read through select', async () => {
  const ff = locateFfmpeg();
  const src = join(work.path, 'long.mkv');
  const r = spawnSync(
    FFMPEG,
    [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=12', '-t', '20'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', '-g', '60', src],
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const probe = await probeInput(ff.ffprobe, src);
  const windows = sampleWindows(probe.duration);
  assert.equal(windows.length, 2);
  const input = `file:${src}`;
  const seek = cutArgs({ input, probe }, windows, 12);
  assert.equal(seek.filter((a) => a === '-ss').length, 2);
  assert.equal(seek.filter((a) => a === '-i').length, 2);
  assert.match(seek[seek.indexOf('-filter_complex') + 1]!, /concat=n=2:v=1:a=0/);
  for (const other of [
    cutArgs({ input, probe, inputOptions: ['-copyts'], videoFilterPrefix: ['trim=start=1'] }, windows, 12),
    cutArgs({ input: 'https://example.com/a.mp4', probe }, windows, 12),
  ]) {
    assert.equal(other.filter((a) => a === '-i').length, 1);
    assert.match(other[other.indexOf('-vf') + 1]!, /select=between/);
  }
  assert.deepEqual(intermediateCodec({ pixFmt: 'yuv420p', interlaced: false }), ['-c:v', 'utvideo']);
  assert.deepEqual(intermediateCodec({ pixFmt: 'yuv420p10le', interlaced: false }), ['-c:v', 'ffv1']);
  assert.deepEqual(intermediateCodec({ pixFmt: 'yuv420p', interlaced: true }), ['-c:v', 'ffv1']);

  // The seeked cut holds the same pictures as the select over the whole file: 18 frames per
  // 1.5 s window at 12 fps, and the first window's frames equal the select's frame for frame.
  const cut = (args: string[], name: string) => {
    const out = join(work.path, name);
    const c = spawnSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', ...args, '-c:v', 'ffv1', out], {
      encoding: 'utf8',
    });
    assert.equal(c.status, 0, c.stderr);
    return out;
  };
  const bySeek = cut(seek, 'seek.mkv');
  const bySelect = cut(cutArgs({ input, probe, videoFilterPrefix: ['null'] }, windows, 12), 'select.mkv');
  const frames = (p: string) =>
    Number(
      spawnSync(
        FFPROBE,
        [
          '-v',
          'error',
          '-count_frames',
          '-select_streams',
          'v:0',
          '-show_entries',
          'stream=nb_read_frames',
          '-of',
          'csv=p=0',
          p,
        ],
        { encoding: 'utf8' },
      ).stdout.trim(),
    );
  assert.equal(frames(bySeek), 36);
  const firstWindow = spawnSync(
    FFMPEG,
    [
      ...['-hide_banner', '-nostats', '-i', bySeek, '-i', bySelect, '-lavfi'],
      '[0:v]trim=end_frame=18,setpts=N[a];[1:v]trim=end_frame=18,setpts=N[b];[a][b]psnr',
      ...['-f', 'null', '-'],
    ],
    { encoding: 'utf8' },
  );
  assert.match(firstWindow.stderr, /PSNR .*average:inf/, 'the first window holds the same pictures');
  // Not a test that cannot fail: one frame off and they differ.
  const shifted = spawnSync(
    FFMPEG,
    [
      ...['-hide_banner', '-nostats', '-i', bySeek, '-i', bySelect, '-lavfi'],
      '[0:v]trim=end_frame=18,setpts=N[a];[1:v]trim=start_frame=1:end_frame=19,setpts=N[b];[a][b]psnr',
      ...['-f', 'null', '-'],
    ],
    { encoding: 'utf8' },
  );
  assert.doesNotMatch(shifted.stderr, /average:inf/);

  // A probe on them scores what measuring the probe in full does.
  const caps = await ffmpegCapabilities(ff.ffmpeg);
  const dir = join(work.path, 'probe');
  spawnSync('mkdir', ['-p', dir]);
  const enc = sampleEncoder({
    ffmpeg: ff.ffmpeg,
    input,
    duration: probe.duration,
    probe,
    preset: getPreset('webm'),
    encoders: caps.encoders,
    target,
    workDir: dir,
  });
  const score = await enc.probe(40);
  assert.ok(score > 0.8 && score < 1, `score ${score}`);
  assert.deepEqual(readdirSync(dir), ['samples.mkv'], 'a probe removes its encode');
  assert.equal(frames(join(dir, 'samples.mkv')), 36);
});

test('a short input is its own sample: the final encode at a probed CRF takes that probe (same command, same file, its full measurement), and nothing else', async () => {
  const ff = locateFfmpeg();
  const src = join(work.path, 'short.mkv');
  const r = spawnSync(
    FFMPEG,
    [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'mandelbrot=size=160x120:rate=12'],
      ...['-vf', 'noise=alls=5:allf=t', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0'],
      ...['-pix_fmt', 'yuv420p', src],
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const probe = await probeInput(ff.ffprobe, src);
  assert.equal(sampleWindows(probe.duration).length, 0);
  const caps = await ffmpegCapabilities(ff.ffmpeg);
  const dir = join(work.path, 'own');
  spawnSync('mkdir', ['-p', dir]);
  const input = `file:${src}`;
  const preset = getPreset('av1');
  const enc = sampleEncoder({
    ffmpeg: ff.ffmpeg,
    input,
    duration: probe.duration,
    probe,
    preset,
    encoders: caps.encoders,
    target,
    workDir: dir,
  });
  const score = await enc.probe(40);
  await enc.probe(44);
  assert.equal(readdirSync(dir).length, 2, 'both probe encodes kept');
  const dest = join(dir, 'final.webm');
  const final = (crf: number, p = preset) =>
    compileJob({ input, probe, outputs: [{ preset: p, path: dest, crf }], encoders: caps.encoders, passlogDir: dir });
  const f40 = final(40);
  // Not the same command (another CRF, or the preset's audio next to the video): not taken.
  assert.equal(await takeProbe(enc, 41, [final(41).commands[0]!.args], dest), undefined);
  assert.ok(!sameCommands([['-i', 'a', 'x.webm']], 'x.webm', [['-i', 'b', dest]], dest));
  assert.ok(!existsSync(dest));
  const q = await takeProbe(
    enc,
    40,
    f40.commands.map((c) => c.args),
    dest,
  );
  assert.ok(q, 'taken');
  assert.equal(q.ssim, score, 'the full measurement scores what the probe returned');
  assert.ok(existsSync(dest));
  const v = f40.outputs[0]!.video!;
  const fresh = await measureQuality({
    ffmpeg: ff.ffmpeg,
    distorted: dest,
    reference: input,
    referenceStream: probe.video!.index,
    referenceFilters: v.filters,
    width: v.width,
    height: v.height,
    pixFmt: v.pixFmt,
  });
  assert.equal(fresh.ssim, q.ssim);
  assert.equal(fresh.psnr, q.psnr);
  // The file is what the final command writes: a fresh encode scores the same.
  const again = join(dir, 'again.webm');
  const run = spawnSync(
    FFMPEG,
    ['-hide_banner', '-loglevel', 'error', '-y', ...f40.commands[0]!.args.map((a) => (a === dest ? again : a))],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0, run.stderr);
  const againQ = await measureQuality({
    ffmpeg: ff.ffmpeg,
    distorted: again,
    reference: input,
    referenceStream: probe.video!.index,
    referenceFilters: v.filters,
    width: v.width,
    height: v.height,
    pixFmt: v.pixFmt,
  });
  assert.ok(Math.abs(againQ.ssim - q.ssim) < 0.002, `${againQ.ssim} vs ${q.ssim}`);
  // Taken once: a second take of 40 finds nothing; dispose removes the probe nobody took.
  assert.equal(await takeProbe(enc, 40, [f40.commands[0]!.args], dest), undefined);
  await enc.dispose();
  assert.deepEqual(readdirSync(dir).sort(), ['again.webm', 'final.webm']);
});

test('an encode writes its source frames beside its output (raw, as the measurement compares them): the same frames, the same scores as measuring against the source, and one frame off is not', async () => {
  const ff = locateFfmpeg();
  const src = join(work.path, 'raw-src.mkv');
  const r = spawnSync(
    FFMPEG,
    [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'mandelbrot=size=176x100:rate=12'],
      ...['-vf', 'noise=alls=5:allf=t', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0'],
      ...['-pix_fmt', 'yuv420p', src],
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const probe = await probeInput(ff.ffprobe, src);
  const caps = await ffmpegCapabilities(ff.ffmpeg);
  const dir = join(work.path, 'raw');
  spawnSync('mkdir', ['-p', dir]);
  const input = `file:${src}`;
  const out = join(dir, 'out.webm');
  // A scaling preset: the reference carries the output's filters and size.
  const preset = { ...getPreset('webm'), video: { ...getPreset('webm').video!, maxWidth: 128, maxHeight: 72 } };
  const job = compileJob({ input, probe, outputs: [{ preset, path: out }], encoders: caps.encoders, passlogDir: dir });
  const video = job.outputs[0]!.video!;
  assert.ok(video.width < 176, `scaled to ${video.width}`);
  const frames = probe.duration * probe.video!.fps!;
  const ref = await rawReference({ dir, name: 'ref.nut', video, referenceStream: probe.video!.index, frames });
  assert.ok(ref);
  const [args] = withReferences(job.commands, [{ outputPath: out, ref }]);
  assert.deepEqual(
    args!.slice(0, job.commands[0]!.args.length),
    job.commands[0]!.args,
    'the encode as compiled, then the reference',
  );
  assert.equal(args!.at(-1), ref.path);
  const run = spawnSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', ...args!], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const count = (p: string) =>
    spawnSync(
      FFPROBE,
      [
        '-v',
        'error',
        '-count_frames',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=nb_read_frames,width',
        '-of',
        'csv=p=0',
        p,
      ],
      {
        encoding: 'utf8',
      },
    ).stdout.trim();
  assert.equal(
    count(ref.path),
    `${video.width},${count(out).split(',')[1]}`,
    'as many frames as the output, at its size',
  );
  const m = { ffmpeg: ff.ffmpeg, path: out, input, probe, video };
  const fromSource = await measureAgainstSource(m);
  const fromRaw = await measureAgainstSource({ ...m, rawReference: ref });
  assert.ok(Math.abs(fromRaw.ssim - fromSource.ssim) <= 0.0005 && Math.abs(fromRaw.psnr - fromSource.psnr) <= 0.05);
  assert.equal(fromRaw.ssim, fromSource.ssim);
  assert.ok(!existsSync(ref.path), 'the reference is removed once measured');
  // Not a comparison that cannot fail: the reference one frame off scores differently.
  const chain = ref.args[ref.args.indexOf('-vf') + 1]!;
  const off = join(dir, 'off.nut');
  const sh = spawnSync(
    FFMPEG,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      src,
      '-vf',
      `${chain},trim=start_frame=1,setpts=N`,
      '-c:v',
      'rawvideo',
      '-f',
      'nut',
      off,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(sh.status, 0, sh.stderr);
  const fromOff = await measureAgainstSource({ ...m, rawReference: { ...ref, path: off } });
  assert.ok(Math.abs(fromOff.ssim - fromSource.ssim) > 0.0005, `${fromOff.ssim} vs ${fromSource.ssim}`);
  // A format it would not keep exactly, or more bytes than the cap: no reference (the source is decoded).
  assert.equal(
    await rawReference({ dir, name: 'x.nut', video: { ...video, pixFmt: 'yuvj420p' }, referenceStream: 0, frames }),
    undefined,
  );
  const tooMany = RAW_REFERENCE_MAX_BYTES / (video.width * video.height);
  assert.equal(await rawReference({ dir, name: 'x.nut', video, referenceStream: 0, frames: tooMany }), undefined);
  // Two passes: the reference goes with pass 2, the command that writes the output.
  const two = withReferences(
    [{ args: ['-pass', '1', '-f', 'null', '-'] }, { args: ['-pass', '2', out] }],
    [{ outputPath: out, ref }],
  );
  assert.deepEqual(two[0], ['-pass', '1', '-f', 'null', '-']);
  assert.deepEqual(two[1]!.slice(3), ref.args);
});
