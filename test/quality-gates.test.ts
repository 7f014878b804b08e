// Issue 26, item 3: `quality.gates` in config (or a preset) put a floor under a figure of an
// output's quality: under a `fail` floor the output is not stored and the encode fails with
// QUALITY_GATE; under a `flag` floor it is kept and its record (and every view of it) says so.
// A tiny clip (160x120, 12 fps, 2 s).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { qualityText } from '../src/api/format.js';
import { localFileStorage } from '../src/backends.js';
import { parseConfig } from '../src/config.js';
import { encode } from '../src/encode.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { qualitySets, resolveOutputs } from '../src/jobspec.js';
import { getPreset } from '../src/presets/registry.js';
import { checkGates, withGateDefaults } from '../src/quality/gates.js';
import { nommer } from './helpers/cli.js';
import { isFinal, startFeederd, waitForJob } from './helpers/feederd.js';
import { makeClip, tempDir } from './helpers/media.js';

const work = tempDir('nommer-gates-');
after(() => work.cleanup());
const input = makeClip(join(work.path, 'clip.mp4'), { seconds: 2, width: 160, height: 120, fps: 12, audioChannels: 0 });

function configError(gates: unknown): string {
  try {
    parseConfig({ quality: { gates } });
  } catch (e) {
    assert.equal((e as { code?: string }).code, 'CONFIG_INVALID');
    return (e as Error).message;
  }
  assert.fail(`config with gates ${JSON.stringify(gates)} was accepted`);
}

test('config quality.gates: figures, floors in range, fail or flag (flag by default), each mistake named', () => {
  const ok = parseConfig({ quality: { gates: { 'ssim.p5': { min: 0.93, action: 'fail' }, psnr: { min: 30 } } } });
  assert.deepEqual(ok.quality.gates, { 'ssim.p5': { min: 0.93, action: 'fail' }, psnr: { min: 30, action: 'flag' } });
  assert.deepEqual(parseConfig({}).quality.gates, {});
  assert.match(configError({ 'ssim.p3': { min: 0.9 } }), /quality\.gates\.ssim\.p3 .*ssim\.<pool>.*p1, p5/);
  assert.match(configError({ 'vmaf.p5': { min: 90 } }), /quality\.gates\.vmaf\.p5 /);
  assert.match(
    configError({ 'ssim.p5': { min: 93 } }),
    /quality\.gates\.ssim\.p5\.min must be from 0 to 1 for ssim\.p5, got 93/,
  );
  assert.match(configError({ 'ssim.p5': { min: 0.9, action: 'drop' } }), /action must be "fail" or "flag", got "drop"/);
  assert.match(configError({ 'ssim.p5': { floor: 0.9 } }), /unknown key "quality\.gates\.ssim\.p5\.floor"/);
  assert.match(configError({ 'ssim.p5': 0.9 }), /quality\.gates\.ssim\.p5 /);
});

test("config's gates go into each measured video output's preset; the preset's own gate wins", () => {
  const gates = { 'ssim.p5': { min: 0.93, action: 'fail' as const }, 'psnr.min': { min: 25, action: 'flag' as const } };
  const [webm, opus] = resolveOutputs({
    input,
    presets: ['webm', 'opus'],
    outputs: [],
    sets: [],
    userPresets: {},
    defaultPreset: 'webm',
    gates,
  });
  assert.deepEqual(webm!.preset.quality?.gates, gates);
  assert.equal(opus!.preset.quality?.gates, undefined);
  const own = { ...getPreset('webm'), quality: { gates: { 'ssim.p5': { min: 0.9, action: 'flag' as const } } } };
  assert.deepEqual(withGateDefaults(own, gates).quality?.gates, { ...gates, 'ssim.p5': { min: 0.9, action: 'flag' } });
  const off = resolveOutputs({
    input,
    presets: ['webm'],
    outputs: [],
    sets: qualitySets({ measure: false }),
    userPresets: {},
    defaultPreset: 'webm',
    gates,
  });
  assert.equal(off[0]!.preset.quality?.gates, undefined, 'not measured: no gate');
  // Not measured (or a figure not there): the gate says it could not check, never passes.
  assert.deepEqual(checkGates({ skipped: 'a still' }, gates), [
    { figure: 'ssim.p5', min: 0.93, action: 'fail', value: null, result: 'unchecked' },
    { figure: 'psnr.min', min: 25, action: 'flag', value: null, result: 'unchecked' },
  ]);
});

test('under a fail floor the output is not stored and the encode fails with QUALITY_GATE; a flag floor keeps it and says so', async () => {
  const preset = (gates: Parameters<typeof withGateDefaults>[1]) => withGateDefaults(getPreset('webm'), gates);
  const run = (p: ReturnType<typeof preset>, name: string) =>
    encode({
      ffmpeg: locateFfmpeg(),
      storage: localFileStorage(),
      input,
      outputs: [{ preset: p, path: join(work.path, name) }],
      force: true,
    });
  await assert.rejects(run(preset({ 'ssim.p5': { min: 0.9999, action: 'fail' } }), 'failed.webm'), (e: Error) => {
    assert.equal((e as { code?: string }).code, 'QUALITY_GATE');
    assert.equal((e as { retriable?: boolean }).retriable, false);
    assert.match(e.message, /failed\.webm scored ssim\.p5 0\.\d+, under its quality gate's floor of 0\.9999/);
    return true;
  });
  assert.equal(existsSync(join(work.path, 'failed.webm')), false);
  assert.deepEqual(
    readdirSync(work.path).filter((f) => f.includes('failed')),
    [],
    'no temp file left',
  );
  const kept = await run(
    preset({ 'ssim.p5': { min: 0.9999, action: 'flag' }, 'psnr.min': { min: 10, action: 'fail' } }),
    'flagged.webm',
  );
  const q = kept.outputs[0]!.quality!;
  assert.ok(existsSync(join(work.path, 'flagged.webm')));
  assert.deepEqual(
    q.gates!.map((g) => [g.figure, g.result, g.value]),
    [
      ['ssim.p5', 'flagged', q.pooled!.ssim.p5],
      ['psnr.min', 'passed', q.pooled!.psnr.min],
    ],
  );
  assert.match(qualityText(q), new RegExp(`FLAGGED ssim\\.p5 ${q.pooled!.ssim.p5} < 0\\.9999`));
  // A gate on SSIM (or any pooled figure) decodes the output, as without the encoder's PSNR.
  assert.equal(q.source, undefined);
  // A gate on the mean PSNR alone is checked on the encoder's own figure: no decode.
  const psnrOnly = (await run(preset({ psnr: { min: 10, action: 'fail' } }), 'psnr-gate.webm')).outputs[0]!.quality!;
  assert.equal(psnrOnly.source, 'encoder', JSON.stringify(psnrOnly));
  assert.deepEqual(psnrOnly.gates, [
    { figure: 'psnr', min: 10, action: 'fail', value: psnrOnly.psnr, result: 'passed' },
  ]);
});

test('nommer encode with a fail gate in config exits 1 with QUALITY_GATE and leaves no output', async () => {
  const cwd = join(work.path, 'cli');
  mkdirSync(cwd);
  writeFileSync(
    join(cwd, 'nommer.config.json'),
    JSON.stringify({ quality: { gates: { 'ssim.p5': { min: 0.9999, action: 'fail' } } } }),
  );
  const out = join(cwd, 'out.webm');
  const r = await nommer(['encode', input, '-o', out], { cwd });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /QUALITY_GATE/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(out), false);
});

test('on feederd: config gates reach the workers; a preset gate under its fail floor fails the job (not retried, no output), a flag is in status', async () => {
  const dir = join(work.path, 'feederd');
  mkdirSync(dir);
  // One worker takes both jobs in turn: what reaches a worker does not depend on how many there
  // are, and a second would cost its own `nommer worker` start (about a second of CPU).
  const f = await startFeederd(dir, {
    workers: 1,
    config: {
      quality: { gates: { 'ssim.p5': { min: 0.9999, action: 'flag' }, 'psnr.min': { min: 10, action: 'fail' } } },
      presets: { strict: { extends: 'webm', quality: { gates: { 'ssim.p5': { min: 0.9999, action: 'fail' } } } } },
    },
  });
  try {
    const flaggedUri = join(dir, 'flagged.webm');
    const strictUri = join(dir, 'strict.webm');
    const flagged = (await f.client.createJob({ input, outputs: [{ preset: 'webm', uri: flaggedUri }] })).job;
    const strict = (await f.client.createJob({ input, outputs: [{ preset: 'strict', uri: strictUri }] })).job;
    const failed = await waitForJob(f.client, strict.id, isFinal);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'QUALITY_GATE', JSON.stringify(failed.error));
    assert.equal(failed.attempt, 1, 'not retried');
    assert.equal(existsSync(strictUri), false);
    const done = await waitForJob(f.client, flagged.id, isFinal);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    // Read through the client (the contract): the distribution, the frames measured and the gates.
    const q = done.outputs[0]!.quality!;
    assert.deepEqual(q.sampling, { every: 11, first: 5 });
    assert.deepEqual(
      q.gates!.map((g) => [g.figure, g.action, g.result]),
      [
        ['ssim.p5', 'flag', 'flagged'],
        ['psnr.min', 'fail', 'passed'],
      ],
    );
    assert.equal(q.gates![0]!.value, q.pooled!.ssim.p5);
    assert.ok(existsSync(flaggedUri));
  } finally {
    await f.stop();
  }
});
