// Scene-cut chunking with real ffmpeg, on a title joined from different clips (hard cuts at known
// frames, keyframes every 2 s that ignore them): the assembler checks every chunk before the join
// (a chunk of another size, one that lasts twice its time, one that does not decode: each is
// encoded again, never joined), and a real feederd with two workers plans at the cuts, shows
// the plan in `status`, and its output has the source's frames at the whole-file encode's SSIM.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { getPreset } from '../src/presets/registry.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { checkJoinable, chunkFacts, inspectChunk } from '../src/chunked/check-chunk.js';
import { manifestUri, type VideoChunkParams } from '../src/chunked/tasks.js';
import { chunkKey } from '../src/tasks/planned.js';
import { sha256File } from '../src/hash.js';
import { FFMPEG, FFPROBE, tempDir } from './helpers/media.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { chunkedRun, decodedTiming, timing, videoKeyframes } from './helpers/chunked.js';
import { againstWholeFile, makeCutTitle, planStarts } from './helpers/scenes.js';
import { nommer } from './helpers/cli.js';
import { CHUNKED_WEBM } from './helpers/srv-cheap.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

// The fastest libvpx speed, and no quality record (the product's own measuring pass, covered by the
// quality tests): what these tests compare is chunked against unchunked at the same settings, themselves.
const SET = CHUNKED_WEBM;
/** 8 s: shots of 1.6, 2, 1.2, 1.8 and 1.4 s; cuts at frames 40, 90, 120 and 165. */
const SHOTS = [1.6, 2, 1.2, 1.8, 1.4];
const LENGTHS = { minChunkSeconds: 1, maxChunkSeconds: 3 };
const preset = () =>
  applyOverrides(getPreset('webm', {}), SET) as unknown as Record<string, unknown> & { name: string };

/** Re-encode a chunk's frames with extra filters (its frame count unchanged). */
function reencode(src: string, dest: string, vf: string): void {
  execFileSync(
    FFMPEG,
    [
      '-v',
      'error',
      '-y',
      '-i',
      src,
      '-vf',
      vf,
      '-fps_mode',
      'passthrough',
      '-c:v',
      'libvpx-vp9',
      '-deadline',
      'realtime',
      '-cpu-used',
      '8',
      dest,
    ],
    { stdio: 'ignore' },
  );
}

/** Break the frame header of one packet (its block's 4 header bytes kept): the container is whole. */
function breakFrame(path: string, packet: number): void {
  const rows = execFileSync(FFPROBE, ['-v', 'error', '-show_entries', 'packet=pos,size', '-of', 'json', path], {
    encoding: 'utf8',
  });
  const p = (JSON.parse(rows) as { packets: Array<{ pos: string }> }).packets[packet]!;
  const b = readFileSync(path);
  for (let i = Number(p.pos) + 4; i < Number(p.pos) + 12; i++) b[i] = b[i]! ^ 0xff;
  writeFileSync(path, b);
}

/**
 * Put a tampered file in a chunk's place with an entry that vouches for it (its checksum). Its
 * facts (duration, stream parameters) are what a worker would have seen of it ('seen'), or left
 * out, so the assembler probes the file ('none'); its decode is vouched for or not.
 */
async function replaceChunk(uri: string, file: string, o: { decoded: boolean; facts: 'seen' | 'none' }): Promise<void> {
  writeFileSync(uri, readFileSync(file));
  const entry = JSON.parse(readFileSync(manifestUri(uri), 'utf8')) as Record<string, unknown>;
  entry.sha256 = await sha256File(uri);
  entry.bytes = statSync(uri).size;
  if (!o.decoded) delete entry.decoded;
  if (o.facts === 'none') delete entry.facts;
  else {
    const { duration, params } = await chunkFacts(FFPROBE, uri);
    entry.facts = { duration, params };
  }
  writeFileSync(manifestUri(uri), JSON.stringify(entry));
}

test('each chunk is checked before the join: another size, twice the duration or a broken frame is encoded again', async () => {
  const d = tempDir();
  dirs.push(d);
  const title = makeCutTitle(join(d.path, 'title.mp4'), SHOTS);
  const out = join(d.path, 'out.webm');
  const r = await chunkedRun(title.path, out, preset(), d.path, { chunkSeconds: 2, workers: 2, scenes: LENGTHS });
  assert.deepEqual(
    r.plan.chunks.map((c) => c.startFrame),
    [0, ...title.cuts],
    'a chunk per shot',
  );
  for (const t of r.tasks.filter((x) => x.type === 'chunk')) await r.run(t.key);
  const uris = r.plan.chunks.map((c) => (r.tasks[c.index]!.params as { uri: string }).uri);
  const tmp = (n: string) => join(d.path, n);
  // Each chunk's entry vouches for what its worker's one look at it found, for the assembler.
  const { duration, params } = await chunkFacts(FFPROBE, uris[0]!);
  assert.deepEqual(JSON.parse(readFileSync(manifestUri(uris[0]!), 'utf8')).facts, { duration, params });
  reencode(uris[1]!, tmp('small.webm'), 'scale=160:90');
  await replaceChunk(uris[1]!, tmp('small.webm'), { decoded: true, facts: 'seen' });
  reencode(uris[2]!, tmp('slow.webm'), 'setpts=2*PTS');
  await replaceChunk(uris[2]!, tmp('slow.webm'), { decoded: true, facts: 'none' });
  execFileSync('cp', [uris[3]!, tmp('broken.webm')]);
  breakFrame(tmp('broken.webm'), 20);
  assert.ok((await inspectChunk(FFPROBE, tmp('broken.webm'))).errors, 'the broken chunk does not decode cleanly');
  assert.equal(timing(tmp('broken.webm')).frames, r.plan.chunks[3]!.frames, 'yet it has its packets');
  await replaceChunk(uris[3]!, tmp('broken.webm'), { decoded: false, facts: 'seen' });

  const done = await r.run('assemble');
  const repaired = done.result!.repaired as Array<{ piece: string; why: string }>;
  assert.deepEqual(
    repaired.map((x) => x.piece),
    ['chunk 1', 'chunk 2', 'chunk 3'],
  );
  assert.match(repaired[0]!.why, /stream parameters differ.*width 160, not 320/);
  assert.match(repaired[1]!.why, /lasts 2\.3\d+ s, expected 1\.200 s/);
  assert.match(repaired[2]!.why, /does not decode cleanly/);
  const t = decodedTiming(out);
  assert.equal(t.frames, title.frames);
  assert.ok(t.clean, t.errors);

  // A chunk still unfit once encoded again fails the join: it is never joined.
  const spec = (i: number) => r.tasks.find((t) => t.key === chunkKey(i))!.params as VideoChunkParams;
  const good = (i: number) => ({ path: uris[i]!, spec: spec(i), entry: { decoded: spec(i).frames } });
  const small = { path: tmp('small.webm'), spec: spec(1), entry: { decoded: spec(1).frames } };
  await assert.rejects(
    checkJoinable(locateFfmpeg(), [good(0), small, good(4)], async () => small),
    /chunk 1, encoded again, still cannot be joined: its stream parameters differ/,
  );
  await done.cleanup?.();
});

test('on feederd: every cut within the allowed lengths is a boundary to the frame; status shows the plan; the output has the source frames at the whole-file SSIM', async () => {
  const d = tempDir();
  dirs.push(d);
  const f = await startFeederd(d.path, {
    workers: 2,
    config: { chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 2, ...LENGTHS } },
  });
  running.push(f);
  const title = makeCutTitle(join(d.path, 'title.mp4'), SHOTS, { audio: true });
  assert.deepEqual(
    videoKeyframes(title.path).map((t) => Math.round(t * 25)),
    [0, 50, 100, 150],
    'the source keyframes ignore the cuts',
  );
  const out = join(d.path, 'title.webm');
  const j = (await f.client.createJob({ input: title.path, outputs: [{ preset: 'webm', uri: out }], set: SET })).job;
  const done = await waitForJob(f.client, j.id, isFinal, 240_000, { pollMs: 500 });
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));

  const detail = await f.client.getJob(j.id);
  const { chunks, starts } = planStarts(detail);
  assert.deepEqual(starts, [0, ...title.cuts], 'a boundary at every cut, to the frame');
  assert.deepEqual(
    chunks.map((c) => c.sceneCut),
    [false, true, true, true, true],
  );
  for (const [i, c] of chunks.entries()) assert.ok(Math.abs(c.start - starts[i]! / 25) < 1e-6, `chunk ${i} start`);
  assert.equal(detail.tasks.find((t) => t.id.endsWith('.scenes'))?.state, 'succeeded', 'cuts found by the scene task');
  const text = await nommer(['status', j.id], { env: f.env, cwd: d.path });
  assert.match(text.stdout, /chunks {4}5, 4 starting on a scene cut/);
  assert.match(text.stdout, /#1 +1\.600 s +50 frames {2}scene cut/);
  await f.stop();

  // Exactly the source's frames; every chunk's first frame a keyframe at its shot's start.
  assert.equal(timing(out).frames, title.frames);
  const keys = new Set(videoKeyframes(out).map((t) => Math.round(t * 25)));
  for (const c of title.cuts) assert.ok(keys.has(c), `a keyframe at cut ${c}`);
  const { chunked, whole, line } = await againstWholeFile(title, out, SET);
  console.log(line);
  assert.equal(chunked.frames, title.frames);
  assert.ok(chunked.all >= whole.all - 0.002, `SSIM ${chunked.all} against the whole-file encode's ${whole.all}`);
});
