// Nothing that grows with a title travels in a message (issue 22 item 3; issue 23 items 3, 4):
// a 10-hour title planned as a chunked package of 6 rungs with 2 s segments gives 3000
// rendition-chunk tasks and a package of ~18,000 segments, and every task message and status
// event of it stays under 16 KiB, as each backend encodes it (local: the JSON the SQLite queue
// stores; aws: the SQS body and attributes). Before, the package task carried every rung's chunk
// params (~900 KB) and its success event every file's name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage } from '../src/adapters/aws/sqs-queue.js';
import { packageTasks } from '../src/abr/tasks.js';
import { packageResult } from '../src/abr/worker-task.js';
import type { PackageInfo } from '../src/abr/types.js';
import { planChunks, type FrameTimeline } from '../src/chunked/plan.js';
import { MESSAGE_VERSION, statusEvent, taskMessage, type StatusEvent, type TaskMessage } from '../src/messages.js';
import { getPreset, toWirePreset } from '../src/presets/registry.js';
import { resolvedPresetSchema } from '../src/presets/schema.js';

const LIMIT = 16 * 1024;
const HOURS = 10;
const FPS = 25;
const RUNGS = [144, 240, 360, 480, 720, 1080];
const BUCKET = 's3://a-bucket-with-a-rather-long-name-for-its-region/nommer-staging/';
const JOB = 'j_01kxxxxxxxxxxxxxxxxxxxxxxxxx';

function tenHourPlan() {
  const n = HOURS * 3600 * FPS;
  const times = Array.from({ length: n }, (_, i) => i / FPS);
  const keyframes = Array.from({ length: n / (2 * FPS) }, (_, i) => i * 2 * FPS);
  const timeline: FrameTimeline = { times, keyframes, formatStart: 0, fps: FPS };
  return planChunks(timeline, { chunkSeconds: 60, workers: 64, cutEvery: 2 * FPS });
}

/** Both backends' encodings of a message, in bytes. */
function encodedSizes(m: { v: number }, what: string): { local: number; sqs: number } {
  const sqs = encodeMessage(m, what);
  const attrs = Object.entries(sqs.MessageAttributes).reduce(
    (s, [k, v]) =>
      s + Buffer.byteLength(k) + Buffer.byteLength(v.DataType ?? '') + Buffer.byteLength(v.StringValue ?? ''),
    0,
  );
  // The local queue and status channel store JSON.stringify of the message (adapters/local/sqlite-*.ts).
  return { local: Buffer.byteLength(JSON.stringify(m)), sqs: Buffer.byteLength(sqs.MessageBody) + attrs };
}

test('a 10-hour chunked package of 6 rungs at 2 s segments: every task message and status event is under 16 KiB on both backends', () => {
  const preset = resolvedPresetSchema.parse({
    ...getPreset('abr'),
    abr: { ...getPreset('abr').abr!, rungs: RUNGS, segmentSeconds: 2 },
  });
  const plan = tenHourPlan();
  const scratch = `${BUCKET}chunks/0f8fad5b-d9cb-469f-a165-70867728950e/`;
  const tasks = packageTasks(preset, { scratch, chunked: { rungs: RUNGS, plan } });
  assert.equal(tasks.filter((t) => t.type === 'rendition-chunk').length, plan.chunks.length * RUNGS.length);
  assert.ok(plan.chunks.length * RUNGS.length >= 3000, `${plan.chunks.length} chunks x ${RUNGS.length} rungs`);
  const out = `${BUCKET}out/some rather long title of a film, the director's cut/`;
  let largestTask = { bytes: 0, key: '' };
  for (const t of tasks) {
    const message: TaskMessage = {
      v: MESSAGE_VERSION,
      kind: 'task',
      jobId: JOB,
      taskId: `${JOB}.${t.key}`,
      attempt: 1,
      type: t.type,
      input: `${BUCKET}inputs/some rather long title of a film, the director's cut.mov`,
      outputs: [{ preset: toWirePreset(preset), uri: out }],
      force: false,
      params: t.params,
    };
    assert.ok(taskMessage.safeParse(message).success, `${t.key} is a valid task message`);
    const size = encodedSizes(message, `the ${t.key} task`);
    assert.ok(size.local < LIMIT && size.sqs < LIMIT, `${t.key}: ${JSON.stringify(size)} bytes`);
    if (size.sqs > largestTask.bytes) largestTask = { bytes: size.sqs, key: t.key };
  }
  // The piece list the package task names by reference is as long as the title: it is in storage.
  const pack = tasks.find((t) => t.type === 'package')!;
  const listBytes = Buffer.byteLength(pack.objects![0]!.text);
  assert.ok(listBytes > 10 * LIMIT, `the package's piece list is ${listBytes} bytes, and stays out of the message`);

  // The package's success event, as the worker builds it (abr/worker-task.ts packageResult).
  const duration = HOURS * 3600;
  const segments = (duration / 2) * (RUNGS.length + 1);
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
    files: segments + 20,
  };
  const base: Pick<StatusEvent, 'v' | 'kind' | 'jobId' | 'attempt' | 'worker' | 'at'> = {
    v: MESSAGE_VERSION,
    kind: 'status',
    jobId: JOB,
    attempt: 1,
    worker: 'i-0123456789abcdef0.3',
    at: 0,
  };
  const events: StatusEvent[] = [
    { ...base, taskId: `${JOB}.package`, seq: 1, type: 'started' },
    { ...base, taskId: `${JOB}.package`, seq: 2, type: 'phase', phase: 'uploading' },
    {
      ...base,
      taskId: `${JOB}.package`,
      seq: 3,
      type: 'progress',
      progress: { fraction: 0.5, fps: 200, speed: 8, etaSeconds: 3600, outTimeSeconds: 18000 },
    },
    {
      ...base,
      taskId: `${JOB}.package`,
      seq: 4,
      type: 'succeeded',
      outputs: [{ uri: out, bytes: 250_000_000_000 }],
      result: packageResult(out, info, 'a'.repeat(64), 1080),
      instance: { type: 'c7a.2xlarge', spot: true },
    },
  ];
  for (const ev of events) {
    assert.ok(statusEvent.safeParse(ev).success, `${ev.type} is a valid status event`);
    const size = encodedSizes(ev, `status event ${ev.type}`);
    assert.ok(size.local < LIMIT && size.sqs < LIMIT, `${ev.type}: ${JSON.stringify(size)} bytes`);
  }
  console.log(
    `# ${tasks.length} tasks; largest task message ${largestTask.bytes} B (${largestTask.key}); piece list ${listBytes} B in storage; package event ${encodedSizes(events.at(-1)!, 'e').sqs} B`,
  );
});
