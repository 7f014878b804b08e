// Issue 25: the pure parts of measuring by the encoder (quality/encoder-psnr.ts, the progress
// block's psnr); the encodes themselves are in test/quality.test.ts and quality-sampling.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBlock } from '../src/ffmpeg/progress.js';
import { outputQualitySchema } from '../src/jobs/outputs.js';
import type { CompiledVideo } from '../src/presets/compile.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';
import {
  encoderQuality,
  fileIndexOf,
  measuredByEncoder,
  parseVstats,
  withEncoderPsnr,
} from '../src/quality/encoder-psnr.js';

const VSTATS = [
  'out=  0 st=  0 frame=     0 q= 10.0 PSNR=  43.78 f_size=  43082 s_size=        0kB time= 0.010 br=  8271.7kbits/s avg_br=     0.0kbits/s type= I',
  'out=  1 st=  0 frame=     0 q= 4.0 f_size=  51274 s_size=        0kB time= 0.010 br=  9844.6kbits/s avg_br=     0.0kbits/s type= I',
  'out=  0 st=  0 frame=     1 q= 32.0 PSNR=  30.34 f_size=   5631 s_size=       42kB time= 0.042 br=  1081.2kbits/s avg_br=  8206.1kbits/s type= P',
  'out=  0 st=  1 frame=     1 q= 32.0 PSNR=  20.00 f_size=   5631 s_size=       42kB time= 0.042 br=  1081.2kbits/s avg_br=  8206.1kbits/s type= P',
  'out=  0 st=  0 frame=     2 q= 30.0 PSNR=    inf f_size=  13229 s_size=       48kB time= 0.083 br=  2540.0kbits/s avg_br=  4695.2kbits/s type= P',
].join('\n');

test("vstats: each output file's per-frame luma PSNR of its video stream, in order (identical frames 100 dB); lines without PSNR are none", () => {
  const m = parseVstats(VSTATS);
  assert.deepEqual([...m.keys()], [0]);
  assert.deepEqual(m.get(0), [43.78, 30.34, 100]);
});

test('the final progress block carries psnr_all by file and stream; a block without it has no key', () => {
  const kv = { frame: '72', stream_0_0_q: '32.0', stream_0_0_psnr_y: '32.45', stream_0_0_psnr_all: '32.63' };
  assert.deepEqual(toBlock(kv, true).psnrAll, { '0:0': 32.63 });
  assert.equal('psnrAll' in toBlock({ frame: '3' }, false), false);
  assert.equal(
    'psnrAll' in toBlock({ stream_0_0_psnr_all: 'inf' }, true),
    false,
    'inf is not a figure: decode instead',
  );
});

test('-flags:v +psnr goes before the measured outputs only; the vstats file is global; file indexes count outputs in argv order', () => {
  const args = [
    '-i',
    'in',
    '-c:v',
    'libsvtav1',
    '-f',
    'webm',
    '/o/a.webm',
    '-c:v',
    'libvpx-vp9',
    '-f',
    'webm',
    '/o/b.webm',
  ];
  assert.deepEqual(withEncoderPsnr(args, ['/o/b.webm'], '/t/v.log'), [
    ...['-vstats_file', '/t/v.log', '-i', 'in', '-c:v', 'libsvtav1', '-f', 'webm', '/o/a.webm'],
    ...['-c:v', 'libvpx-vp9', '-f', 'webm', '-flags:v', '+psnr', '/o/b.webm'],
  ]);
  assert.equal(fileIndexOf(args, ['/o/a.webm', '/o/b.webm', '/o/c.webm'], '/o/b.webm'), 1);
  assert.equal(fileIndexOf(args, ['/o/b.webm'], '/o/b.webm'), 0);
});

test('which outputs the encoder measures: libvpx and libaom at 8-bit 4:2:0, no target, no SSIM asked, no gate but psnr', () => {
  const v = (o: Partial<CompiledVideo>) =>
    ({ encoder: 'libvpx-vp9', codec: 'vp9', width: 640, height: 360, pixFmt: 'yuv420p', ...o }) as CompiledVideo;
  const webm = getPreset('webm');
  assert.equal(measuredByEncoder(webm, v({}), false), true);
  assert.equal(measuredByEncoder(webm, v({ encoder: 'libvpx' }), false), true);
  assert.equal(measuredByEncoder(webm, v({ encoder: 'libaom-av1' }), false), true);
  assert.equal(measuredByEncoder(webm, v({ encoder: 'libsvtav1' }), false), false);
  assert.equal(measuredByEncoder(webm, v({ encoder: 'libtheora' }), false), false);
  assert.equal(measuredByEncoder(webm, v({ pixFmt: 'yuv420p10le' }), false), false, '10-bit: mis-scaled');
  assert.equal(measuredByEncoder(webm, v({ pixFmt: 'yuv444p' }), false), false, 'weighed as 4:2:0');
  assert.equal(measuredByEncoder(webm, v({ width: 641 }), false), false);
  assert.equal(measuredByEncoder(webm, v({}), true), false, 'a target');
  assert.equal(measuredByEncoder(applyOverrides(webm, ['quality.ssim=true']), v({}), false), false);
  const gated = (figure: string) => ({
    ...webm,
    quality: { gates: { [figure]: { min: 1, action: 'flag' as const } } },
  });
  assert.equal(measuredByEncoder(gated('psnr'), v({}), false), true);
  assert.equal(measuredByEncoder(gated('psnr.p5'), v({}), false), false, 'all-plane per frame: decode');
  assert.equal(measuredByEncoder(gated('ssim'), v({}), false), false);
});

test("the encoder's record: all-plane psnr, every frame's luma pooled, or none when the run did not report it whole", () => {
  const q = encoderQuality({ psnrAll: 32.63, lumaFrames: [43.78, 30.34, 31], frames: 3 }, 24)!;
  assert.equal(q.source, 'encoder');
  assert.equal(q.psnr, 32.63);
  assert.equal(q.sampling, 'full');
  assert.equal(q.pooledLuma!.frames, 3);
  assert.equal(q.pooledLuma!.psnrY.min, 30.34);
  assert.deepEqual(q.pooledLuma!.psnrY.worst[0], { frame: 1, time: 0.042, score: 30.34 });
  assert.equal(encoderQuality({ psnrAll: undefined, lumaFrames: [40], frames: undefined }, 24), undefined);
  assert.equal(encoderQuality({ psnrAll: 40, lumaFrames: [], frames: undefined }, 24), undefined);
  assert.equal(encoderQuality({ psnrAll: 40, lumaFrames: [40, 41], frames: 3 }, 24), undefined, 'frames missing');
});

test("the job record's schema reads old records (no source) and the encoder's, and refuses a source it does not know", () => {
  const old = { ssim: 0.98, psnr: 40.1, sampling: { every: 11, first: 5 }, seconds: 1.2 };
  assert.deepEqual(outputQualitySchema.parse(old), old);
  const fromEncoder = encoderQuality({ psnrAll: 32.63, lumaFrames: [43.78, 30.34], frames: 2 }, 24)!;
  assert.deepEqual(outputQualitySchema.parse(JSON.parse(JSON.stringify(fromEncoder))), fromEncoder);
  assert.equal(outputQualitySchema.safeParse({ ...old, source: 'guess' }).success, false);
});
