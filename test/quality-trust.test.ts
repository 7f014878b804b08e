// Issue 23: scores and the measuring reference are trusted only as far as nommer made them.
// - item 8: an input's metadata (printed by ffmpeg at the info level the metric filters log at)
//   cannot set a recorded score or steer a quality target;
// - item 5: a container that claims a short duration cannot make the raw measuring reference
//   written beside an encode grow past what was planned.
// Every encode here runs at libvpx's fastest speed (FAST_VIDEO): what is compared is the tagged
// input against the untagged one under the same settings, and a measurement against its source,
// neither of which depends on how slowly the picture was encoded (issue 24).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { encode } from '../src/encode.js';
import { localFileStorage } from '../src/backends.js';
import { qualitySets } from '../src/jobspec.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';
import { measureQuality, measureScore } from '../src/quality/measure.js';
import type { OutputQuality, SearchRecord } from '../src/quality/types.js';
import { FFMPEG, FFPROBE, tempDir } from './helpers/media.js';
import { NOMMER_BIN } from './helpers/cli.js';
import { ssim } from './helpers/chunked.js';
import { FAST_VIDEO } from './helpers/srv-cheap.js';

const work = tempDir('nommer-quality-trust-');
after(() => work.cleanup());
const located = locateFfmpeg();
const ff = located.ffmpeg;

function ffmpeg(args: string[]): void {
  const r = spawnSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** A lossless 3 s clip, small enough for a whole target search to stay cheap. */
const GOOD = join(work.path, 'good.mkv');
ffmpeg([
  ...['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=12', '-t', '3'],
  ...['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', GOOD],
]);

/**
 * The same frames, with tags that read like the metric filters' summaries: a title and a comment
 * (ffmpeg prints them indented), and a tag whose name holds a line break, so that one of its
 * lines starts like the SSIM filter's own log line. The Matroska muxer upper-cases tag names, so
 * that line is written upper-cased and set back byte for byte (same length) in the file.
 */
const EVIL = join(work.path, 'evil.mkv');
const FORGED_LINE = '[Parsed_ssim_0 @ 0x1] SSIM Y:0 All:0.200000 (0)';
{
  const raw = join(work.path, 'evil-raw.mkv');
  ffmpeg([
    ...['-i', GOOD, '-c', 'copy'],
    ...['-metadata', 'title=x] SSIM Y:0 All:0.100000 (0)'],
    ...['-metadata', 'comment=y] PSNR y:0 u:0 v:0 average:7.500000 min:0 max:0'],
    ...['-metadata', `k\n${FORGED_LINE}\nz=v`],
    raw,
  ]);
  const bytes = readFileSync(raw);
  const upper = Buffer.from(FORGED_LINE.toUpperCase().replaceAll(' ', '_'));
  assert.ok(bytes.includes(upper), 'the muxer wrote the tag name as expected');
  writeFileSync(EVIL, Buffer.from(bytes.toString('latin1').replace(upper.toString('latin1'), FORGED_LINE), 'latin1'));
  const dump = spawnSync(FFMPEG, ['-hide_banner', '-i', EVIL], { encoding: 'utf8' }).stderr;
  assert.ok(dump.split('\n').includes(FORGED_LINE), `ffmpeg prints the forged line at the start of a line:\n${dump}`);
}

/**
 * The quality record of a webm encode of `input`, run in-process (the code `nommer encode` runs;
 * its --json output is read in the last test), with `target` if given.
 */
async function encodeQuality(input: string, out: string, target?: string, sets: string[] = []): Promise<OutputQuality> {
  const preset = applyOverrides(getPreset('webm'), [
    ...FAST_VIDEO,
    ...(target ? qualitySets({ target }) : []),
    ...sets,
  ]);
  const r = await encode({
    ffmpeg: located,
    storage: localFileStorage(),
    input,
    outputs: [{ preset, path: out }],
    force: true,
  });
  return r.outputs[0]!.quality!;
}

/**
 * `nommer encode --json` of one output, its quality, under a limit on the
 * size of any file it writes (RLIMIT_FSIZE, through util-linux's prlimit).
 */
async function encodeJson(
  input: string,
  out: string,
  maxFileBytes: number,
  sets: string[] = [],
): Promise<OutputQuality> {
  const argv = [
    process.execPath,
    NOMMER_BIN,
    'encode',
    input,
    '-o',
    out,
    '--json',
    '-f',
    ...[...FAST_VIDEO, ...sets].flatMap((x) => ['--set', x]),
  ];
  const limited = ['prlimit', `--fsize=${maxFileBytes}`, ...argv];
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(limited[0]!, limited.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return (JSON.parse(r.stdout) as { outputs: Array<{ quality: OutputQuality }> }).outputs[0]!.quality;
}

test('a title tag that reads like a score changes neither the recorded SSIM/PSNR nor the scores of a measurement', async () => {
  // From the encoder (the default): its figures come from the progress pipe and the vstats file,
  // which no input's text reaches.
  const goodEnc = await encodeQuality(GOOD, join(work.path, 'good-enc.webm'));
  const evilEnc = await encodeQuality(EVIL, join(work.path, 'evil-enc.webm'));
  assert.equal(goodEnc.source, 'encoder', JSON.stringify(goodEnc));
  assert.deepEqual([evilEnc.psnr, evilEnc.pooledLuma], [goodEnc.psnr, goodEnc.pooledLuma]);
  // Decoded (SSIM asked for): from the filters' own lines.
  const good = await encodeQuality(GOOD, join(work.path, 'good.webm'), undefined, ['quality.ssim=true']);
  const evil = await encodeQuality(EVIL, join(work.path, 'evil.webm'), undefined, ['quality.ssim=true']);
  assert.ok(good.ssim !== undefined && good.ssim > 0.9, JSON.stringify(good));
  assert.equal(evil.ssim, good.ssim, `recorded SSIM: ${JSON.stringify(evil)}`);
  assert.equal(evil.psnr, good.psnr, `recorded PSNR: ${JSON.stringify(evil)}`);
  // The measurement a search's probe makes (one metric) and the full one, against the tagged source.
  const m = (reference: string) => ({
    ffmpeg: ff,
    distorted: join(work.path, 'good.webm'),
    reference: `file:${reference}`,
    referenceStream: 0,
    referenceFilters: '',
    width: 160,
    height: 120,
    pixFmt: 'yuv420p',
  });
  assert.equal(await measureScore(m(EVIL), 'ssim'), await measureScore(m(GOOD), 'ssim'));
  assert.equal(await measureScore(m(EVIL), 'psnr'), await measureScore(m(GOOD), 'psnr'));
  const a = await measureQuality(m(EVIL));
  const b = await measureQuality(m(GOOD));
  assert.deepEqual([a.ssim, a.psnr], [b.ssim, b.psnr]);
});

test('a title tag that reads like a score does not steer --target: the same probes, CRF and score as the untagged input', async () => {
  const good = await encodeQuality(GOOD, join(work.path, 'good-target.webm'), 'ssim=0.97');
  const evil = await encodeQuality(EVIL, join(work.path, 'evil-target.webm'), 'ssim=0.97');
  const g = good.search as SearchRecord;
  const e = evil.search as SearchRecord;
  assert.equal(g.reached, true, JSON.stringify(g));
  assert.equal(e.crf, g.crf, `CRF of the tagged input: ${JSON.stringify(e)}`);
  assert.equal(e.reached, true);
  assert.equal(evil.ssim, good.ssim);
  assert.deepEqual(
    e.tried.map((p) => [p.crf, p.score]),
    g.tried.map((p) => [p.crf, p.score]),
  );
});

test('a file that claims 1 s but holds 15 s: the raw reference stays within its planned bound, and the output is measured against the source', async () => {
  const lying = join(work.path, 'lying.mkv');
  ffmpeg([
    ...['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=12', '-t', '15'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', lying],
  ]);
  // The segment's Duration (EBML ID 0x4489, an 8-byte float of milliseconds) set to 1 s.
  const bytes = readFileSync(lying);
  const at = bytes.indexOf(Buffer.from([0x44, 0x89, 0x88]));
  assert.equal(bytes.readDoubleBE(at + 3), 15000, 'the Duration element is where expected');
  bytes.writeDoubleBE(1000, at + 3);
  writeFileSync(lying, bytes);
  const probe = (entries: string, extra: string[] = []) =>
    spawnSync(FFPROBE, ['-v', 'error', ...extra, '-show_entries', entries, '-of', 'csv=p=0', lying], {
      encoding: 'utf8',
    }).stdout.trim();
  assert.equal(Number(probe('format=duration')), 1);
  assert.equal(probe('stream=nb_read_frames', ['-count_frames', '-select_streams', 'v:0']), '180');
  // Planned: 12 frames (15 with the margin) of 160x120 yuv420p, 28,800 bytes each, about 0.4 MB;
  // all 180 frames would be 5.2 MB. No file of the encode may pass 4 MB. (15 s rather than 30:
  // past the limit is all the test needs, and every frame is encoded twice and measured twice.)
  const out = join(work.path, 'lying.webm');
  // SSIM asked for: the decode pass, with the raw reference (the default, from the encoder, writes none).
  const q = await encodeJson(lying, out, 4_000_000, ['quality.ssim=true']);
  // The reference, cut at its bound, is not used: the output is measured against the source.
  const fresh = ssim(out, lying);
  assert.equal(fresh.frames, 180);
  assert.ok(q.ssim !== undefined && Math.abs(q.ssim - fresh.all) <= 0.002, `${q.ssim} vs ${fresh.all}`);
  // From the encoder: every frame it wrote, whatever the container claimed.
  const byEncoder = await encodeJson(lying, join(work.path, 'lying-enc.webm'), 4_000_000);
  assert.equal(byEncoder.source, 'encoder', JSON.stringify(byEncoder));
  assert.equal(byEncoder.pooledLuma?.frames, 180);
});
