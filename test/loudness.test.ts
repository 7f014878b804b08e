// Loudness normalization (issue 26 item 2): a quiet (about -40 LUFS) and a loud (about -6 LUFS)
// program land within ±0.5 LU of the target with the true peak at or under the ceiling, as an
// independent ebur128 run measures the output (test/helpers/loudness.ts), in a whole-file encode,
// an audio-only preset and a package; a program whose peaks no linear gain can raise is limited
// and its record says so; one whose loudness range is wider than asked is compressed and says
// so; an input without audio gets a note, not a failure; bad values are refused before anything
// runs. The planning and the summary parsing are pure and tested alone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { encode } from '../src/encode.js';
import { localFileStorage } from '../src/backends.js';
import { NommerError } from '../src/errors.js';
import { encodePackage } from '../src/abr/run-local.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import {
  firstPlan,
  levelFilters,
  nextPlan,
  parseSummary,
  withOutputFigures,
  type Measured,
  type OutputLoudness,
} from '../src/ffmpeg/loudness.js';
import { loudnessSets, resolveOutputs } from '../src/jobspec.js';
import { compileJob } from '../src/presets/compile.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { createRegistry, getPreset } from '../src/presets/registry.js';
import { ALL_ENCODERS, audio, probeOf, video } from './helpers/probe-info.js';
import { ebur128, program, PROGRAMS } from './helpers/loudness.js';
import { makeClip, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import { CHEAP_WEBM, FAST_VIDEO } from './helpers/srv-cheap.js';

const dir = tempDir('nommer-loudness-');
after(() => dir.cleanup());
const ff = locateFfmpeg();

const TARGET = -16;

/** The quiet 4 s program with a picture, made once: the whole-file test and the package read it. */
let quiet: string | undefined;
const quietProgram = () => (quiet ??= program(dir.path, 'quiet.mkv', PROGRAMS.quiet(4), { seconds: 4 }));
const CEILING = -1;

/** The record's applied form (a skipped one fails the test). */
function applied(l: OutputLoudness | undefined) {
  assert.ok(l, 'the output has a loudness record');
  assert.ok(!('skipped' in l), `loudness was not set: ${JSON.stringify(l)}`);
  return l;
}

/** What a video engineer checks on the output: on target within ±0.5 LU, true peak at or under
 * the ceiling, and the record's output figures those of the output. */
function assertOnTarget(path: string, l: OutputLoudness | undefined, what: string) {
  const m = ebur128(path);
  const r = applied(l);
  assert.ok(Math.abs(m.integrated - TARGET) <= 0.5, `${what}: ${m.integrated} LUFS, target ${TARGET}`);
  assert.ok(m.truePeak <= CEILING, `${what}: true peak ${m.truePeak} dBTP over ${CEILING}`);
  assert.ok(Math.abs(r.output.integrated - m.integrated) <= 0.15, `${what}: record ${r.output.integrated}`);
  assert.ok(Math.abs(r.output.truePeak - m.truePeak) <= 0.15, `${what}: record TP ${r.output.truePeak}`);
  assert.equal(r.missed, undefined);
  process.stdout.write(
    `${what}: input ${r.input.integrated} LUFS, ${r.input.truePeak} dBTP -> output ${m.integrated} LUFS, ${m.truePeak} dBTP, LRA ${m.lra} LU (ebur128); gain ${r.gainDb} dB, ${r.linear ? 'linear' : 'not linear'}\n`,
  );
  return { measured: m, record: r };
}

// ---- pure ------------------------------------------------------------------------------------

const SUMMARY = (tag: string, i: string, tp: string) =>
  `[ebur128@${tag} @ 0x55d8] Summary:\n\n  Integrated loudness:\n    I:         ${i} LUFS\n    Threshold: -49.8 LUFS\n\n  Loudness range:\n    LRA:         3.2 LU\n    Threshold: -59.8 LUFS\n    LRA low:   -41.0 LUFS\n    LRA high:  -38.0 LUFS\n\n  True peak:\n    Peak:      ${tp} dBFS\n`;

test("the summary is read only under the run's own filter name, and silence is null", () => {
  const forged = `    title           : ${SUMMARY('lfake', '-5.0', '-1.0').replace(/\n/g, ' ')}\n`;
  const m = parseSummary(`${forged}Stream #0:0 ...\n${SUMMARY('labc', '-39.8', '-28.1')}`, 'labc');
  assert.deepEqual(m, { integrated: -39.8, threshold: -49.8, lra: 3.2, truePeak: -28.1 });
  assert.equal(parseSummary(SUMMARY('labc', '-70.0', '-inf'), 'labc'), null);
  assert.throws(() => parseSummary(SUMMARY('lother', '-20.0', '-3.0'), 'labc'), { code: 'FFMPEG_FAILED' });
});

const input = (integrated: number, truePeak: number, lra = 2): Measured => ({
  integrated,
  truePeak,
  lra,
  threshold: integrated - 10,
});

test('a gain is linear when target - integrated + true peak is at or under the ceiling, else the peaks are limited', () => {
  const t = { integrated: -16, truePeak: -1 };
  assert.deepEqual(firstPlan(t, input(-40, -31)), { gainDb: 24 });
  assert.deepEqual(firstPlan(t, input(-40, -25)), { gainDb: 24 }, 'exactly at the ceiling is linear');
  const limited = firstPlan(t, input(-40, -24.9));
  assert.equal(limited.limitDb, -1);
  assert.equal(
    limited.why,
    'a linear gain of +24.0 dB would put the true peak at -0.9 dBTP, over the -1 dBTP ceiling: peaks limited',
  );
  const wide = firstPlan({ ...t, lra: 7 }, input(-20, -10, 12));
  assert.deepEqual(wide.compress, { integrated: -16, truePeak: -1, lra: 7 });
  assert.deepEqual(firstPlan({ ...t, lra: 7 }, input(-20, -10, 5)), { gainDb: 4 }, 'a narrow range is left alone');
});

test('a trial is corrected from what it measured: linear while that keeps the loudness, else limited under the encoder overshoot', () => {
  const t = { integrated: -16, truePeak: -1 };
  const src = input(-20, -6);
  const plan = { gainDb: 4 };
  assert.equal(nextPlan(t, src, plan, input(-16.1, -2)), undefined, 'on target');
  // The encoder peaked 0.15 dB over: lowering the gain by 0.25 dB keeps -16 ± 0.2 (from -15.9).
  assert.deepEqual(nextPlan(t, src, plan, input(-15.9, -0.85)), { gainDb: 3.75 });
  // The same from -16.0 would land at -16.25: out of tolerance, so not linear any more.
  assert.equal(nextPlan(t, src, plan, input(-16, -0.85))?.limitDb !== undefined, true);
  // 0.5 dB over, and the encoder peaked 1.5 dB above what it got (-6 + 4 = -2): a limiter
  // 1.5 dB (and a step) under the ceiling.
  const limited = nextPlan(t, src, plan, input(-16, -0.5))!;
  assert.equal(limited.gainDb, 4);
  assert.ok(Math.abs(limited.limitDb! - -2.6) < 1e-9, String(limited.limitDb));
  assert.match(limited.why ?? '', /peaked at -0\.5 dBTP with a linear gain/);
  // A limited trial that lost loudness and still peaks over: more gain, a lower limit.
  const again = nextPlan(t, src, limited, input(-16.6, -0.7))!;
  assert.ok(Math.abs(again.gainDb - 4.6) < 1e-9 && Math.abs(again.limitDb! - -3) < 1e-9, JSON.stringify(again));
});

test('level filters: one volume when linear; an oversampled, delay-compensated limiter back to the chain format', () => {
  const fmt = { sampleRate: 48000, layout: 'stereo' };
  assert.deepEqual(levelFilters({ gainDb: 23.85 }, input(-40, -30), fmt), ['volume=23.85dB']);
  assert.deepEqual(levelFilters({ gainDb: -3, limitDb: -1 }, input(-13, 0), fmt), [
    'volume=-3.00dB',
    'aresample=192000',
    'alimiter=limit=0.89125:level=disabled:latency=1',
    'aformat=sample_rates=48000:channel_layouts=stereo',
  ]);
  const c = levelFilters({ gainDb: 4, compress: { integrated: -16, truePeak: -1, lra: 7 } }, input(-20, -10, 12), fmt);
  assert.match(c[0]!, /^loudnorm=I=-16\.00:TP=-1\.00:LRA=7\.00:measured_I=-20\.00:.*:linear=false$/);
});

test('a record measured again says when the output missed its target or its ceiling', () => {
  const base: OutputLoudness = {
    target: { integrated: -16, truePeak: -1 },
    input: { integrated: -40, truePeak: -30, lra: 1 },
    output: { integrated: -16, truePeak: -7, lra: 1 },
    gainDb: 24,
    linear: true,
  };
  assert.equal(applied(withOutputFigures(base, { integrated: -16.4, truePeak: -1, lra: 1 })).missed, undefined);
  const off = applied(withOutputFigures(base, { integrated: -15.2, truePeak: -0.5, lra: 1 }));
  assert.match(off.missed ?? '', /integrated -15\.2 LUFS is \+0\.8 LU.*true peak -0\.5 dBTP is over/);
});

// ---- settings and flags ----------------------------------------------------------------------

test('--loudness is a preset override; bad values are refused with a hint, before anything runs', async () => {
  assert.deepEqual(loudnessSets('-16'), ['audio.loudness.integrated=-16']);
  assert.deepEqual(loudnessSets(undefined), []);
  for (const bad of ['5', '-90', 'loud', '']) {
    assert.throws(
      () => loudnessSets(bad),
      (e: unknown) => e instanceof NommerError && e.code === 'USAGE' && /-16/.test(e.hint ?? ''),
      bad,
    );
  }
  const webm = getPreset('webm');
  const set = applyOverrides(webm, ['audio.loudness.integrated=-23', 'audio.loudness.truePeak=-2']);
  assert.deepEqual(set.audio?.loudness, { integrated: -23, truePeak: -2 });
  assert.deepEqual(applyOverrides(webm, ['audio.loudness.integrated=-16']).audio?.loudness, {
    integrated: -16,
    truePeak: -1,
  });
  assert.equal(applyOverrides(set, ['audio.loudness=none']).audio?.loudness, undefined);
  assert.throws(() => applyOverrides(webm, ['audio.loudness.integrated=-16', 'audio.loudness.truePeak=1']), {
    code: 'OVERRIDE_INVALID',
    message: /audio\.loudness\.truePeak must be a number from -9 to 0, got "1"/,
  });
  assert.throws(() => applyOverrides(webm, ['audio.loudness.truePeak=-2']), {
    code: 'OVERRIDE_INVALID',
    message: /integrated/,
  });
  assert.throws(() => applyOverrides(webm, ['audio.loudness.gain=3']), { code: 'OVERRIDE_INVALID' });
  // Every output of a job gets --loudness; a poster has no audio to set.
  const outs = resolveOutputs({
    input: join(dir.path, 'x.mov'),
    presets: ['webm', 'poster'],
    outputs: [],
    sets: loudnessSets('-16'),
    userPresets: {},
    defaultPreset: 'webm',
  });
  assert.equal(outs[0]!.preset.audio?.loudness?.integrated, -16);
  assert.equal(outs[1]!.preset.audio, null);
  // A preset file's own loudness is checked as any setting.
  assert.throws(
    () =>
      createRegistry({ loud: { extends: 'webm', audio: { loudness: { integrated: -16, truePeak: 1 } } } }).getPreset(
        'loud',
      ),
    {
      code: 'PRESET_INVALID',
      message: /audio\.loudness\.truePeak/,
    },
  );

  const clip = makeClip(join(dir.path, 'flags.mp4'), { seconds: 1 });
  // A dry run lists the measurement the gain will come from, ahead of the encode; no measurement without a target.
  const dry = async (sets: string[]) =>
    (
      await encode({
        ffmpeg: ff,
        storage: localFileStorage(),
        input: clip,
        outputs: [{ preset: applyOverrides(webm, sets), path: join(dir.path, 'dry.webm') }],
        dryRun: true,
      })
    ).commands;
  const [measure, ...rest] = await dry(loudnessSets('-16'));
  assert.match(measure!.join(' '), / -af aformat=[^ ]*,ebur128@l[0-9a-f]{16}=peak=true[^ ]* -f null -$/);
  assert.deepEqual(rest, await dry([]));
  // The first refusal through the real binary (its exit status, no stack trace on stderr), the
  // second through the CLI's main() in this process: what it decides is the same, without a
  // `nommer` process start.
  for (const [i, args] of [
    ['--loudness', '5'],
    ['--loudness=-16', '-s', 'audio.loudness.truePeak=1'],
  ].entries()) {
    const argv = ['encode', clip, '-o', join(dir.path, 'flags.webm'), ...args];
    const r = i === 0 ? await nommer(argv) : await nommerInProcess(argv);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, /loudness/);
    assert.match(r.stderr, /hint: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test("without loudness the argv is the preset's own; with a level, its filters follow the output's aformat", () => {
  const probe = probeOf(video(), audio());
  const args = (levelFilters?: string[]) =>
    compileJob({
      input: 'file:in.mov',
      probe,
      outputs: [{ preset: getPreset('opus'), path: '/o/a.opus', levelFilters }],
      encoders: ALL_ENCODERS,
      passlogDir: '/tmp',
    }).commands[0]!.args;
  const plain = args();
  assert.deepEqual(args([]), plain);
  const af = args(['volume=3.00dB']);
  assert.equal(af[af.indexOf('-af') + 1], `${plain[plain.indexOf('-af') + 1]},volume=3.00dB`);
});

// ---- real encodes ----------------------------------------------------------------------------

test('whole-file webm: a quiet and a loud program land on -16 LUFS with a linear gain, true peak under -1 dBTP', async () => {
  // The audio is what is measured: the picture at libvpx's fastest speed, no quality record.
  const preset = applyOverrides(getPreset('webm'), [...CHEAP_WEBM, ...loudnessSets(String(TARGET))]);
  for (const [name, make] of [
    ['quiet', quietProgram],
    ['loud', () => program(dir.path, 'loud.mkv', PROGRAMS.loud(4), { seconds: 4 })],
  ] as const) {
    const input = make();
    const before = ebur128(input);
    const out = join(dir.path, `${name}.webm`);
    const r = await encode({ ffmpeg: ff, storage: localFileStorage(), input, outputs: [{ preset, path: out }] });
    const { record } = assertOnTarget(out, r.outputs[0]!.loudness, name);
    assert.ok(
      Math.abs(before.integrated - (name === 'quiet' ? -40 : -6)) <= 1,
      `${name} program: ${before.integrated}`,
    );
    assert.ok(
      Math.abs(record.input.integrated - before.integrated) <= 0.15,
      `${name}: input ${record.input.integrated}`,
    );
    assert.equal(record.linear, true, `${name}: ${record.why}`);
    assert.equal(record.why, undefined);
    assert.ok(Math.abs(record.gainDb - (TARGET - before.integrated)) <= 0.5, `${name}: gain ${record.gainDb}`);
  }
});

test('an audio-only preset: peaks no linear gain can raise are limited, the record says so, and the target still holds', async () => {
  const input = program(dir.path, 'peaky.mkv', PROGRAMS.peaky(4), { seconds: 4, video: false });
  const before = ebur128(input);
  assert.ok(before.truePeak + (TARGET - before.integrated) > CEILING + 10, JSON.stringify(before));
  const out = join(dir.path, 'peaky.opus');
  const preset = applyOverrides(getPreset('opus'), loudnessSets(String(TARGET)));
  const r = await encode({ ffmpeg: ff, storage: localFileStorage(), input, outputs: [{ preset, path: out }] });
  const { record } = assertOnTarget(out, r.outputs[0]!.loudness, 'peaky');
  assert.equal(record.linear, false);
  assert.match(record.why ?? '', /over the -1 dBTP ceiling: peaks limited/);
});

test('a loudness range wider than asked is compressed (not linear, said), and what it reached is reported as measured', async () => {
  const input = program(dir.path, 'wide.mkv', PROGRAMS.wide(16), { seconds: 16, video: false });
  const before = ebur128(input);
  assert.ok(before.lra > 15, `the program's range: ${before.lra} LU`);
  const out = join(dir.path, 'wide.opus');
  const preset = applyOverrides(getPreset('opus'), [...loudnessSets('-20'), 'audio.loudness.lra=6']);
  const r = await encode({ ffmpeg: ff, storage: localFileStorage(), input, outputs: [{ preset, path: out }] });
  const record = applied(r.outputs[0]!.loudness);
  const m = ebur128(out);
  assert.ok(Math.abs(m.integrated - -20) <= 0.5, `${m.integrated} LUFS`);
  assert.ok(m.truePeak <= CEILING, `true peak ${m.truePeak}`);
  assert.equal(record.linear, false);
  assert.match(record.why ?? '', /loudness range, 2\d\.\d LU, is wider than the 6 LU asked: compressed/);
  assert.ok(m.lra < before.lra - 2, `compressed: ${before.lra} -> ${m.lra} LU`);
  assert.ok(Math.abs(record.output.lra - m.lra) <= 0.2, `record LRA ${record.output.lra}, measured ${m.lra}`);
  // loudnorm's dynamic mode narrows a range slowly (3 s windows): what it did not reach is said.
  if (m.lra > 6.5) assert.match(record.missed ?? '', /loudness range .* is wider than the 6 LU asked/);
});

test('an input without audio: the record says so and the encode succeeds', async () => {
  // 160x120 at libvpx's fastest speed: the picture is not what is tested.
  const input = makeClip(join(dir.path, 'mute.mp4'), { seconds: 1, width: 160, height: 120, audioChannels: 0 });
  const out = join(dir.path, 'mute.webm');
  // In-process: what `encode --loudness -16 --no-quality` runs (the flag is a preset override).
  const preset = applyOverrides(getPreset('webm'), [...loudnessSets('-16'), ...CHEAP_WEBM]);
  const r = await encode({ ffmpeg: ff, storage: localFileStorage(), input, outputs: [{ preset, path: out }] });
  assert.deepEqual(r.outputs[0]!.loudness, {
    target: { integrated: -16, truePeak: -1 },
    skipped: 'the input has no audio (to make that an error: -s audio.optional=false)',
  });
  // What the note says makes it an error does (the CLI's main() in this process: its exit code and
  // stderr line are what the binary gives, and a `nommer` start costs CPU).
  const strict = await nommerInProcess([
    'encode',
    input,
    '-o',
    join(dir.path, 'mute-strict.webm'),
    '--loudness',
    '-16',
    '-s',
    'audio.optional=false',
    '--dry-run',
  ]);
  assert.equal(strict.code, 1);
  assert.match(
    strict.stderr,
    /^nommer: preset "webm" needs an audio stream and the input has none \[INPUT_NO_STREAMS\]\n {2}hint: /,
  );
});

test('a package measures the whole audio once; its audio playlist lands on target', async () => {
  const input = quietProgram();
  // The audio playlist is what is measured: the rungs at libvpx's fastest speed (a rung records
  // no quality of its own).
  const preset = applyOverrides(getPreset('abr'), [
    'abr.thumbnailSeconds=0',
    'abr.poster=false',
    ...FAST_VIDEO,
    ...loudnessSets(String(TARGET)),
  ]);
  const out = join(dir.path, 'pkg');
  const r = await encodePackage({ ffmpeg: ff, storage: localFileStorage(), input, preset, dir: out });
  const audioPlaylist = join(out, `media_${r.package.renditions.length}.m3u8`);
  const { record } = assertOnTarget(audioPlaylist, r.loudness, 'package');
  assert.equal(record.linear, true);
});
