// A chunked job's scene task, run as a worker runs it, and feederd's side of its success: the
// keyframe chunks that waited for it are replaced by the plan at the cuts (the join names the new
// chunk list by its SHA-256, the options show the plan), in the transaction that applies the
// success; a detection that failed keeps the keyframe plan, and the job's options say why. Real
// ffprobe, real job store, local storage; no encoder.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsStorage } from '../src/adapters/local/fs-storage.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { MESSAGE_VERSION, receivedTask, type StatusEvent, type WirePreset } from '../src/messages.js';
import { makeSceneReplanner } from '../src/orchestrator/scene-replan.js';
import { openStore, type Store, type Task } from '../src/orchestrator/store/index.js';
import { getPreset } from '../src/presets/registry.js';
import { sha256Text } from '../src/hash.js';
import { makeChunkPlanner } from '../src/tasks/planner.js';
import { assembleParams, videoChunkParams } from '../src/tasks/params.js';
import { runTask } from '../src/worker/runners.js';
import { standaloneContext } from '../src/worker/task-context.js';
import { tempDir } from './helpers/media.js';
import { makeCutTitle } from './helpers/scenes.js';

const d = tempDir();
const stores: Store[] = [];
after(() => {
  for (const s of stores) s.close();
  d.cleanup();
});

const storage = new FsStorage();
const ff = locateFfmpeg();
const chunking = { enabled: true, thresholdSeconds: 5, chunkSeconds: 2, minChunkSeconds: 1, maxChunkSeconds: 3 };
// Shots of 1.6, 2, 1.2, 1.8 and 1.4 s: cuts at frames 40, 90, 120 and 165; keyframes every 2 s.
const title = makeCutTitle(join(d.path, 'title.mp4'), [1.6, 2, 1.2, 1.8, 1.4], { audio: true });

/** A job as feederd makes it (scene task first, the keyframe chunks waiting for it). A remote
 * `input` is planned as feederd plans one it cannot read (the file stands in for its download). */
async function planned(name: string, o: { input?: string; chunking?: typeof chunking; chunked?: boolean } = {}) {
  const store = openStore(join(d.path, `${name}.db`));
  stores.push(store);
  const planner = makeChunkPlanner({
    ffprobe: () => ff.ffprobe,
    chunking: o.chunking ?? chunking,
    workers: () => 2,
    scratchBase: `${join(d.path, name, 'chunks')}/`,
    storage,
    scenesOnWorker: true,
  });
  const outputs = [{ preset: getPreset('webm'), uri: join(d.path, `${name}.webm`) }];
  const decision = await planner(o.input ?? title.path, outputs, o.chunked);
  assert.ok(decision.tasks, 'chunked');
  const { job } = store.createJob({
    input: o.input ?? title.path,
    outputs,
    options: { chunking: { chunked: true, ...decision.summary } },
    tasks: decision.tasks,
  });
  return { store, job, outputs };
}

/** The job's scene task run as a worker runs it: its message parsed as a worker parses a lease. */
function runScenes(
  jobId: string,
  scenes: Task,
  outputs: Array<{ preset: WirePreset; uri: string }>,
  attempt: number,
  input = title.path,
) {
  const message = receivedTask().parse({
    v: MESSAGE_VERSION,
    kind: 'task',
    jobId,
    taskId: scenes.id,
    attempt,
    type: 'scenes',
    input,
    outputs,
    force: false,
    params: scenes.params ?? {},
  });
  return runTask(
    standaloneContext({ task: message, storage, ffmpeg: ff, scratch: mkdtempSync(join(d.path, 'work-')) }),
  );
}

const event = (jobId: string, seq: number, ev: Partial<StatusEvent>): StatusEvent =>
  ({
    v: MESSAGE_VERSION,
    kind: 'status',
    jobId,
    taskId: `${jobId}.scenes`,
    attempt: 1,
    seq,
    worker: 'w1',
    at: Date.now(),
    type: 'started',
    ...ev,
  }) as StatusEvent;

const starts = (store: Store, jobId: string) =>
  store
    .getJob(jobId)!
    .tasks.filter((t) => t.type === 'chunk')
    .map((t) => videoChunkParams.parse(t.params).startFrame);

test("the scene task's plan replaces the keyframe chunks when it succeeds: a chunk per shot, the join pinned to the new list", async () => {
  const { store, job, outputs } = await planned('ok');
  assert.deepEqual(starts(store, job.id), [0, 50, 100, 150], 'the keyframe plan first');
  assert.ok(
    store
      .getJob(job.id)!
      .tasks.filter((t) => t.type === 'chunk')
      .every((t) => t.state === 'waiting'),
  );
  const scenes = store.getJob(job.id)!.tasks.find((t) => t.type === 'scenes')!;
  const run = await runScenes(job.id, scenes, outputs, 1);
  assert.equal(run.result?.cuts, 4, JSON.stringify(run.result));

  const replan = makeSceneReplanner(store, storage);
  store.applyStatusEvent(event(job.id, 1, {}));
  const done = event(job.id, 2, { type: 'succeeded', result: run.result });
  const r = store.applyStatusEvent(done, undefined, await replan(done));
  assert.ok(r.applied);

  const after = store.getJob(job.id)!;
  assert.deepEqual(starts(store, job.id), [0, ...title.cuts], 'a chunk per shot');
  const chunks = after.tasks.filter((t) => t.type === 'chunk');
  assert.ok(chunks.every((t) => t.state === 'queued' && t.deps.includes(scenes.id)));
  const join_ = after.tasks.find((t) => t.type === 'assemble')!;
  assert.deepEqual(
    [...join_.deps].sort(),
    [...chunks.map((t) => t.id), `${job.id}.audio`].sort(),
    'the join waits for the new chunks and the audio',
  );
  const list = assembleParams.parse(join_.params).chunks;
  assert.equal(sha256Text(readFileSync(list.uri, 'utf8')), list.sha256, 'the new chunk list is stored as pinned');
  const c = after.options.chunking;
  assert.ok(c && 'plan' in c);
  assert.deepEqual(
    c.plan?.map((x) => x.sceneCut),
    [false, true, true, true, true],
  );
  assert.deepEqual(c.scenes && 'cuts' in c.scenes ? c.scenes.cuts : null, 4);
  assert.equal(c.chunks, 5);

  // The same success delivered again changes nothing.
  const again = store.applyStatusEvent(done, undefined, await replan(done));
  assert.equal(again.applied, false);
  assert.deepEqual(starts(store, job.id), [0, ...title.cuts]);
});

test('a detection that failed keeps the keyframe plan, and the job says why', async () => {
  const { store, job } = await planned('failed');
  const replan = makeSceneReplanner(store, storage);
  store.applyStatusEvent(event(job.id, 1, {}));
  const done = event(job.id, 2, { type: 'succeeded', result: { failed: 'scene detection could not read it' } });
  assert.ok(store.applyStatusEvent(done, undefined, await replan(done)).applied);
  const after = store.getJob(job.id)!;
  assert.deepEqual(starts(store, job.id), [0, 50, 100, 150], 'the keyframe chunks');
  assert.ok(
    after.tasks.filter((t) => t.type === 'chunk').every((t) => t.state === 'queued'),
    'and they run',
  );
  const c = after.options.chunking;
  assert.ok(c && 'scenes' in c);
  assert.deepEqual(c.scenes, { skipped: 'scene detection failed: scene detection could not read it' });
});

test("after a cancel and retry, the scene plan's chunks start at the retried attempt: the cancel's fence voids a lower one (they were dropped unrun and the job stayed running)", async () => {
  const { store, job, outputs } = await planned('retried');
  store.cancelJob(job.id, { reason: 'by the test' });
  store.retryJob(job.id);
  const scenes = store.getJob(job.id)!.tasks.find((t) => t.type === 'scenes')!;
  assert.equal(scenes.attempt, 2);
  const run = await runScenes(job.id, scenes, outputs, scenes.attempt);
  const replan = makeSceneReplanner(store, storage);
  store.applyStatusEvent(event(job.id, 1, { attempt: 2 }));
  const done = event(job.id, 2, { attempt: 2, type: 'succeeded', result: run.result });
  assert.ok(store.applyStatusEvent(done, undefined, await replan(done)).applied);
  assert.deepEqual(starts(store, job.id), [0, ...title.cuts], 'the plan at the cuts');
  const chunks = store.getJob(job.id)!.tasks.filter((t) => t.type === 'chunk' || t.type === 'assemble');
  assert.deepEqual(
    chunks.map((t) => t.attempt),
    chunks.map(() => 2),
    'every new chunk and the join at the job attempt the retry started',
  );
  assert.ok(chunks.every((t) => t.maxAttempt >= 2));
});

/** A remote job's scene task run on `file` (what a worker fetched), and its success applied. */
async function succeedRemote(name: string, file: string, o: { chunked?: boolean; chunking?: typeof chunking } = {}) {
  const p = await planned(name, { input: 's3://media/in/title.mp4', ...o });
  const scenes = p.store.getJob(p.job.id)!.tasks.find((t) => t.type === 'scenes')!;
  const run = await runScenes(p.job.id, scenes, p.outputs, 1, file);
  const replan = makeSceneReplanner(p.store, storage);
  p.store.applyStatusEvent(event(p.job.id, 1, {}));
  const done = event(p.job.id, 2, { type: 'succeeded', result: run.result });
  assert.ok(p.store.applyStatusEvent(done, undefined, await replan(done)).applied);
  return { ...p, scenes, after: p.store.getJob(p.job.id)! };
}

test("a remote input (feederd cannot read it): a placeholder chunk and the audio wait for the scene task, whose plan on the worker's copy is the job's", async () => {
  const p = await planned('remote-before', { input: 's3://media/in/title.mp4' });
  const before = p.store.getJob(p.job.id)!;
  assert.deepEqual(before.tasks.map((t) => t.type).sort(), ['assemble', 'audio', 'chunk', 'scenes']);
  const sceneId = `${p.job.id}.scenes`;
  for (const t of before.tasks.filter((x) => x.type === 'chunk' || x.type === 'audio'))
    assert.ok(t.state === 'waiting' && t.deps.includes(sceneId), `${t.id} waits for the scene task`);
  const c0 = before.options.chunking;
  assert.ok(c0 && 'scenes' in c0 && c0.scenes && 'pending' in c0.scenes, 'the plan is pending');

  const { after, job, scenes, store } = await succeedRemote('remote', title.path);
  assert.deepEqual(starts(store, job.id), [0, ...title.cuts], 'a chunk per shot');
  const audio = after.tasks.find((t) => t.type === 'audio');
  assert.ok(audio && audio.state === 'queued' && audio.deps.includes(scenes.id), 'the audio, planned again, runs now');
  const join_ = after.tasks.find((t) => t.type === 'assemble')!;
  assert.ok(join_.deps.includes(audio.id), 'the join waits for it');
  assert.equal(assembleParams.parse(join_.params).totalFrames, title.frames);
  const c = after.options.chunking;
  assert.ok(c && 'plan' in c);
  assert.equal(c.chunks, 5);
  assert.equal(c.frames, title.frames);
  assert.deepEqual(c.scenes && 'cuts' in c.scenes ? c.scenes.cuts : null, 4);
});

test('a remote input without audio: its audio task goes with the placeholder, and the join muxes none', async () => {
  const silent = makeCutTitle(join(d.path, 'silent.mp4'), [1.6, 2, 1.2, 1.8, 1.4]);
  const { after } = await succeedRemote('remote-silent', silent.path);
  assert.equal(after.tasks.filter((t) => t.type === 'audio').length, 0);
  const join_ = after.tasks.find((t) => t.type === 'assemble')!;
  assert.equal(assembleParams.parse(join_.params).audio, null);
});

test('a remote input shorter than chunking.thresholdSeconds, chunked by config: one chunk, and the job says why; asked for with --chunked, it is cut', async () => {
  const long = { ...chunking, thresholdSeconds: 60 };
  const byConfig = await succeedRemote('remote-short', title.path, { chunking: long });
  assert.equal(byConfig.after.tasks.filter((t) => t.type === 'chunk').length, 1);
  const c = byConfig.after.options.chunking;
  assert.ok(c && 'scenes' in c && c.scenes && 'skipped' in c.scenes);
  assert.match(c.scenes.skipped, /shorter than chunking\.thresholdSeconds \(60 s\): one chunk/);
  const asked = await succeedRemote('remote-asked', title.path, { chunking: long, chunked: true });
  assert.equal(asked.after.tasks.filter((t) => t.type === 'chunk').length, 5);
});

test("a remote input's plan that cannot be read is a failed apply (the event comes again), never the placeholder run", async () => {
  const p = await planned('remote-lost', { input: 's3://media/in/title.mp4' });
  const replan = makeSceneReplanner(p.store, storage);
  p.store.applyStatusEvent(event(p.job.id, 1, {}));
  const lost = {
    record: { uri: join(d.path, 'nowhere.json'), sha256: '0'.repeat(64) },
    cuts: 0,
    chunks: 1,
    seconds: 0,
    threshold: 10,
  };
  const done = event(p.job.id, 2, { type: 'succeeded', result: lost });
  await assert.rejects(replan(done), /a remote input's chunks have no plan but the scene task's/);
});

test("a remote input's plan the store declines fails the job: the placeholder chunk never runs", async () => {
  const p = await planned('remote-declined', { input: 's3://media/in/title.mp4' });
  const scenes = p.store.getJob(p.job.id)!.tasks.find((t) => t.type === 'scenes')!;
  const run = await runScenes(p.job.id, scenes, p.outputs, 1, title.path);
  p.store.applyStatusEvent(event(p.job.id, 1, {}));
  const done = event(p.job.id, 2, { type: 'succeeded', result: run.result });
  const plan = await makeSceneReplanner(p.store, storage)(done);
  assert.ok(plan?.replaceAudio, 'a remote plan');
  // A graph the store refuses (a chunk that waits for a task no one plans) stands for any decline.
  const broken = { ...plan, tasks: plan.tasks.map((t, i) => (i === 0 ? { ...t, deps: ['no-such-task'] } : t)) };
  const r = p.store.applyStatusEvent(done, undefined, broken);
  assert.ok(r.applied);
  const job = p.store.getJob(p.job.id)!;
  assert.equal(job.state, 'failed');
  assert.equal(job.error?.code, 'INTERNAL');
  assert.match(job.error?.message ?? '', /placeholder chunk; nothing was encoded/);
  assert.ok(
    job.tasks.filter((t) => t.type === 'chunk').every((t) => t.state === 'canceled' && t.dispatchedAttempt === 0),
    'the placeholder was never sent',
  );
  assert.equal(p.store.listDispatchableTasks().length, 0);
});
