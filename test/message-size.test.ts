// Nothing that grows with a title travels in a message (issue 22 item 3; issue 23 items 3, 4):
// a 10-hour title planned as a chunked package of 6 rungs with 2 s segments gives 3000
// rendition-chunk tasks and a package of ~126,000 segments, and every task message and status
// event of it stays under 16 KiB, as each backend encodes it: local, through the SQLite queue and
// status channel into a real job store (the bytes of the stored bodies); aws, through the SQS
// encoder (body and attributes). Before, the package task carried every rung's chunk params
// (~900 KB) and its success event every file's name. A chunked job's assemble task names its
// chunk list the same way, and its scene task its record of cuts and plan.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { z } from 'zod';
import { encodeMessage } from '../src/adapters/aws/sqs-queue.js';
import { openDatabase, type Db } from '../src/adapters/local/db.js';
import { SqliteJobQueue } from '../src/adapters/local/sqlite-queue.js';
import { SqliteStatusChannel } from '../src/adapters/local/sqlite-status.js';
import { packageTasks } from '../src/abr/tasks.js';
import { packageResult } from '../src/abr/worker-task.js';
import type { PackageInfo } from '../src/abr/types.js';
import type { ChunkManifestEntry } from '../src/chunked/entries.js';
import { planChunks, type FrameTimeline } from '../src/chunked/plan.js';
import { chunkedTasks } from '../src/chunked/tasks.js';
import { MESSAGE_VERSION, statusEvent, taskMessage, type StatusEvent, type TaskMessage } from '../src/messages.js';
import { getPreset } from '../src/presets/registry.js';
import { resolvedPresetSchema, type ResolvedPreset } from '../src/presets/schema.js';
import type { TaskKindName } from '../src/tasks/params.js';
import { pinnedObject, type PlannedTask } from '../src/tasks/planned.js';
import type { ScenesParams } from '../src/tasks/params.js';
import { TASK_RESULTS } from '../src/tasks/results.js';
import { scenePlanRecord, scenesResult } from '../src/tasks/scenes.js';
import { tempDir } from './helpers/media.js';

const LIMIT = 16 * 1024;
const HOURS = 10;
const FPS = 25;
const RUNGS = [144, 240, 360, 480, 720, 1080];
const BUCKET = 's3://a-bucket-with-a-rather-long-name-for-its-region/nommer-staging/';
const JOB = 'j_01kxxxxxxxxxxxxxxxxxxxxxxxxx';
const SCRATCH = `${BUCKET}chunks/0f8fad5b-d9cb-469f-a165-70867728950e/`;
const INPUT = `${BUCKET}inputs/some rather long title of a film, the director's cut.mov`;
const SHA = 'a'.repeat(64);

const dir = tempDir('nommer-message-size-');
const opened: Db[] = [];
after(() => {
  for (const db of opened) if (db.open) db.close();
  dir.cleanup();
});

function tenHourPlan() {
  const n = HOURS * 3600 * FPS;
  const times = Array.from({ length: n }, (_, i) => i / FPS);
  const keyframes = Array.from({ length: n / (2 * FPS) }, (_, i) => i * 2 * FPS);
  const timeline: FrameTimeline = { times, keyframes, formatStart: 0, fps: FPS };
  return planChunks(timeline, { chunkSeconds: 60, workers: 64, cutEvery: 2 * FPS });
}

function messageOf(t: PlannedTask, preset: ResolvedPreset, out: string): TaskMessage {
  const message: TaskMessage = {
    v: MESSAGE_VERSION,
    kind: 'task',
    jobId: JOB,
    taskId: `${JOB}.${t.key}`,
    attempt: 1,
    type: t.type,
    input: INPUT,
    outputs: [{ preset, uri: out }],
    force: false,
    params: t.params,
  };
  const parsed = taskMessage().safeParse(message);
  assert.ok(parsed.success, `${t.key} is a valid task message: ${parsed.error?.message}`);
  return message;
}

const base: Pick<StatusEvent, 'v' | 'kind' | 'jobId' | 'attempt' | 'worker' | 'at'> = {
  v: MESSAGE_VERSION,
  kind: 'status',
  jobId: JOB,
  attempt: 1,
  worker: 'i-0123456789abcdef0.3',
  at: 0,
};

/** The longest loudness record an output gets: limited (why) and still missing its target (missed). */
const LOUDNESS = {
  target: { integrated: -23, truePeak: -1, lra: 7 },
  input: { integrated: -38.6, truePeak: -5.3, lra: 21.4 },
  output: { integrated: -23.6, truePeak: -0.9, lra: 9.1 },
  gainDb: 15.6,
  linear: false,
  why: 'its loudness range, 21.4 LU, is wider than the 7 LU asked: compressed',
  missed:
    'integrated -23.6 LUFS is -0.6 LU from the target; true peak -0.9 dBTP is over the -1 dBTP ceiling; loudness range 9.1 LU is wider than the 7 LU asked',
};

/** A task's events as a worker sends them, its success with `result` (of its kind's schema). */
function eventsOf(taskKey: string, kind: TaskKindName, succeeded: Partial<StatusEvent>): StatusEvent[] {
  const r = TASK_RESULTS[kind].safeParse(succeeded.result);
  assert.ok(r.success, `a ${kind} task's result: ${r.error?.message}`);
  // Every field the event carries is one its kind's schema declares (a parse drops the others).
  assert.deepEqual(r.data, succeeded.result, `a ${kind} task's result has fields its schema does not declare`);
  const taskId = `${JOB}.${taskKey}`;
  const events: StatusEvent[] = [
    { ...base, taskId, seq: 1, type: 'started' },
    { ...base, taskId, seq: 2, type: 'phase', phase: 'encoding' },
    {
      ...base,
      taskId,
      seq: 3,
      type: 'progress',
      progress: { fraction: 0.5, fps: 200, speed: 8, etaSeconds: 3600, outTimeSeconds: 18000 },
    },
    {
      ...base,
      taskId,
      seq: 4,
      type: 'succeeded',
      instance: { type: 'c7a.2xlarge', spot: true },
      ...succeeded,
    },
  ];
  for (const ev of events) {
    const parsed = statusEvent().safeParse(ev);
    assert.ok(parsed.success, `${taskKey} ${ev.type} is a valid status event: ${parsed.error?.message}`);
  }
  return events;
}

/** The largest body each backend's encoder makes of these messages, in bytes. */
async function largestEncoded(tasks: TaskMessage[], events: StatusEvent[]): Promise<{ local: number; sqs: number }> {
  // aws: the SQS encoder every send goes through (body plus attributes, as SQS counts them).
  let sqs = 0;
  for (const m of [...tasks, ...events]) {
    const e = encodeMessage(m, m.kind === 'task' ? m.taskId : `${m.taskId} ${m.type}`);
    const attrs = Object.entries(e.MessageAttributes).reduce(
      (s, [k, v]) =>
        s + Buffer.byteLength(k) + Buffer.byteLength(v.DataType ?? '') + Buffer.byteLength(v.StringValue ?? ''),
      0,
    );
    sqs = Math.max(sqs, Buffer.byteLength(e.MessageBody) + attrs);
  }
  // local: the SQLite queue and status channel, into a job store of their own.
  const db = openDatabase(join(dir.path, `store-${opened.length}.db`));
  opened.push(db);
  await new SqliteJobQueue(db).sendBatch(tasks.map((task) => ({ task })));
  const status = new SqliteStatusChannel(db);
  for (const ev of events) await status.publish(ev);
  const rows = z
    .array(z.object({ queue: z.string(), n: z.number(), bytes: z.number() }))
    .parse(
      db
        .prepare(
          'SELECT queue, count(*) AS n, max(length(CAST(body AS BLOB))) AS bytes FROM queue_messages GROUP BY queue',
        )
        .all(),
    );
  const counts = Object.fromEntries(rows.map((r) => [r.queue, r.n]));
  assert.deepEqual(counts, { tasks: tasks.length, status: events.length }, 'every message stored');
  return { local: Math.max(...rows.map((r) => r.bytes)), sqs };
}

/** A 10-hour title's scene task and the record it stores: a cut every 5 s, chunks of 30-120 s at them. */
function tenHourScenes() {
  const n = HOURS * 3600 * FPS;
  const times = Array.from({ length: n }, (_, i) => i / FPS);
  const keyframes = Array.from({ length: n / (2 * FPS) }, (_, i) => i * 2 * FPS);
  const cuts = Array.from({ length: n / (5 * FPS) - 1 }, (_, i) => ({
    frame: (i + 1) * 5 * FPS + (i % 7),
    time: ((i + 1) * 5 * FPS + (i % 7)) / FPS,
    score: 12.3456 + (i % 50),
  }));
  const timeline: FrameTimeline = { times, keyframes, formatStart: 0, fps: FPS };
  const sceneChunking = { cuts: cuts.map((c) => c.frame), minChunkSeconds: 30, maxChunkSeconds: 120 };
  const plan = planChunks(timeline, { chunkSeconds: 60, workers: 64, scenes: sceneChunking });
  const params: ScenesParams = {
    kind: 'scenes',
    uri: `${SCRATCH}scenes.json`,
    threshold: 10,
    chunkSeconds: 60,
    minChunkSeconds: 30,
    maxChunkSeconds: 120,
    workers: 64,
    totalFrames: plan.totalFrames,
  };
  const scenes = {
    v: 1 as const,
    method: 'scdet' as const,
    threshold: 10,
    width: 160,
    frames: n,
    seconds: 1234.5,
    cuts,
  };
  const record = pinnedObject(params.uri, scenePlanRecord, { scenes, plan });
  const task: PlannedTask = { key: 'scenes', type: 'scenes', params, weight: 0.02 };
  return { task, record, counts: { cuts: cuts.length, chunks: plan.chunks.length, seconds: 1234.5, threshold: 10 } };
}

const chunkEntry = (index: number): ChunkManifestEntry => ({
  index,
  frames: 1500,
  bytes: 12_345_678,
  sha256: SHA,
  quality: { ssim: 0.987654, psnr: 41.2345, vmaf: 95.4321, seconds: 12.3, sampling: { every: 2 } },
});

test('a 10-hour chunked package of 6 rungs at 2 s segments: every task message and status event is under 16 KiB on both backends', async () => {
  const preset = resolvedPresetSchema().parse({
    ...getPreset('abr'),
    abr: { ...getPreset('abr').abr!, rungs: RUNGS, segmentSeconds: 2 },
  });
  const plan = tenHourPlan();
  const tasks = packageTasks(preset, { scratch: SCRATCH, chunked: { rungs: RUNGS, plan } });
  assert.equal(tasks.filter((t) => t.type === 'rendition-chunk').length, plan.chunks.length * RUNGS.length);
  assert.ok(plan.chunks.length * RUNGS.length >= 3000, `${plan.chunks.length} chunks x ${RUNGS.length} rungs`);
  const out = `${BUCKET}out/some rather long title of a film, the director's cut/`;
  const messages = tasks.map((t) => messageOf(t, preset, out));
  // The piece list the package task names by reference is as long as the title: it is in storage.
  const pack = tasks.find((t) => t.type === 'package')!;
  const listBytes = Buffer.byteLength(pack.objects![0]!.text);
  assert.ok(listBytes > 10 * LIMIT, `the package's piece list is ${listBytes} bytes, and stays out of the message`);

  // Each kind's success, as its runner reports it.
  const duration = HOURS * 3600;
  const info: PackageInfo = {
    dash: 'manifest.mpd',
    hls: 'master.m3u8',
    segmentSeconds: 2,
    duration,
    renditions: RUNGS.map((rung) => ({
      rung,
      width: Math.round((rung * 16) / 9 / 2) * 2,
      height: rung,
      codec: 'vp9',
      bytes: rung * 40_000_000,
      kbps: rung * 9,
    })),
    audio: { codec: 'opus', channels: 2, kbps: 128 },
    subtitles: ['en', 'fr', 'de', 'es', 'pt-BR', 'ja'].map((language, i) => ({
      file: `subtitles-${i}-${language}.vtt`,
      language,
      label: language,
    })),
    poster: 'poster.webp',
    thumbnails: 'thumbnails.vtt',
    files: (duration / 2) * (RUNGS.length + 1) + 20,
  };
  const events = [
    ...eventsOf('rendition-1080p-chunk-299', 'rendition-chunk', { result: chunkEntry(299) }),
    ...eventsOf('audio', 'package-audio', {
      result: {
        kind: 'abr-audio',
        codec: 'opus',
        channels: 2,
        kbps: 128,
        bytes: 576_000_000,
        sha256: SHA,
        loudness: LOUDNESS,
      },
    }),
    ...eventsOf('extras', 'extras', { result: { kind: 'extras', files: 1210 } }),
    ...eventsOf('package', 'package', {
      outputs: [{ uri: out, bytes: 250_000_000_000 }],
      result: { ...packageResult(out, info, SHA, 1080), loudness: [{ uri: out, loudness: LOUDNESS }] },
    }),
  ];
  const size = await largestEncoded(messages, events);
  assert.ok(size.local < LIMIT && size.sqs < LIMIT, `largest: ${JSON.stringify(size)} bytes`);
  console.log(
    `# package: ${tasks.length} tasks; largest message ${JSON.stringify(size)} B; piece list ${listBytes} B in storage`,
  );
});

test('a 10-hour chunked job: its assemble task names its chunk list by reference; every message is under 16 KiB on both backends', async () => {
  const preset = resolvedPresetSchema().parse(getPreset('webm'));
  const plan = tenHourPlan();
  const scenes = tenHourScenes();
  const tasks = [scenes.task, ...chunkedTasks(plan, { scratch: SCRATCH, audio: true })];
  const out = `${BUCKET}out/some rather long title of a film, the director's cut.webm`;
  const messages = tasks.map((t) => messageOf(t, preset, out));
  const assemble = tasks.find((t) => t.type === 'assemble')!;
  const listBytes = Buffer.byteLength(assemble.objects![0]!.text);
  assert.ok(listBytes > 5 * LIMIT, `the chunk list is ${listBytes} bytes, and stays out of the message`);
  // The scene task's record (a cut every 5 s with its score, and the plan at them) is in storage too.
  const recordBytes = Buffer.byteLength(scenes.record.object.text);
  assert.ok(recordBytes > 10 * LIMIT, `the scene record is ${recordBytes} bytes, and stays out of the message`);
  const last = plan.chunks.length - 1;
  const events = [
    ...eventsOf('scenes', 'scenes', { result: scenesResult.parse({ ...scenes.counts, record: scenes.record.ref }) }),
    ...eventsOf(`chunk-${last}`, 'chunk', { result: chunkEntry(last) }),
    ...eventsOf('audio', 'audio', { result: { kind: 'audio', bytes: 576_000_000, sha256: SHA, loudness: LOUDNESS } }),
    ...eventsOf('assemble', 'assemble', {
      outputs: [{ uri: out, bytes: 30_000_000_000 }],
      result: {
        frames: plan.totalFrames,
        repaired: [{ piece: 'chunk 12', why: 'checksum differs from what its task reported' }],
        quality: [{ uri: out, quality: { ssim: 0.98, psnr: 40.1, vmaf: 94.2, seconds: 3600, sampling: { every: 4 } } }],
        media: [{ uri: out, seconds: HOURS * 3600, height: 1080 }],
        loudness: [{ uri: out, loudness: LOUDNESS }],
      },
    }),
  ];
  const size = await largestEncoded(messages, events);
  assert.ok(size.local < LIMIT && size.sqs < LIMIT, `largest: ${JSON.stringify(size)} bytes`);
  console.log(
    `# chunked job: ${tasks.length} tasks; largest message ${JSON.stringify(size)} B; chunk list ${listBytes} B, scene record ${recordBytes} B in storage`,
  );
});
