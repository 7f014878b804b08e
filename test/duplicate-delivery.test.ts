// A task message delivered again after its task succeeded — what the outbox does when feederd
// dies between sending a task and marking it sent ("send first, so a crash in between sends
// again"), and what SQS may do at any time — must change nothing: effects happen once. The
// duplicate here is the very message feederd sent, copied back into the local queue's table
// once the job succeeded, exactly as a second send would leave it.
// - A chunk task of a finished chunked job must not write its piece again into the job's scratch
//   (the assembler removed it; nothing would ever remove the new one).
// - An encode task of a finished `force` job must not rewrite the job's output.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { PublicJob } from '../src/orchestrator/api.js';
import { makeClip, tempDir } from './helpers/media.js';
import { startFeederd, type RunningFeederd } from './helpers/feederd.js';
import { FAST_VIDEO, NO_QUALITY } from './helpers/srv-cheap.js';
import { ffmpegPids, partialFiles, sleep, storeState, until } from './helpers/faults.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

// Keyframe chunks (scenes off): the test reads a chunk task's message while feederd has no workers,
// and with scene cuts the chunks are sent only after the scene task has run on a worker.
// No test here looks at quality figures: none are measured (an ffmpeg run per output less).
const CONFIG = {
  chunking: { enabled: false, thresholdSeconds: 600, chunkSeconds: 1, scenes: false },
  ...NO_QUALITY,
};

async function settle(f: RunningFeederd, id: string, timeoutMs: number): Promise<PublicJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = (await f.client.getJob(id)).job;
    if (['succeeded', 'failed', 'canceled'].includes(j.state)) return j;
    assert.ok(Date.now() < deadline, `job ${id} not final after ${timeoutMs} ms: ${JSON.stringify(j)}`);
    await sleep(100);
  }
}

/** The task messages waiting in the local queue: body and priority, by task type. */
function queuedMessages(home: string): Array<{ body: string; priority: number; type: string; taskId: string }> {
  const db = new Database(join(home, 'nommer.db'), { readonly: true });
  try {
    return (
      db.prepare("SELECT body, priority FROM queue_messages WHERE queue = 'tasks' ORDER BY id").all() as Array<{
        body: string;
        priority: number;
      }>
    ).map((r) => {
      const m = JSON.parse(r.body) as { type: string; taskId: string };
      return { ...r, type: m.type, taskId: m.taskId };
    });
  } finally {
    db.close();
  }
}

/** Send `body` to the tasks queue again, as a second send by the outbox would. */
function sendAgain(home: string, m: { body: string; priority: number }): void {
  const db = new Database(join(home, 'nommer.db'), { timeout: 10_000 });
  try {
    const now = Date.now();
    db.prepare(
      "INSERT INTO queue_messages (queue, body, priority, sent_at, visible_at) VALUES ('tasks', ?, ?, ?, ?)",
    ).run(m.body, m.priority, now, now);
  } finally {
    db.close();
  }
}

/** Until the duplicate was taken and settled (the queue is empty, no task runs, no ffmpeg). */
async function duplicateConsumed(f: RunningFeederd, d: string): Promise<void> {
  await until(
    () => {
      const s = storeState(f.home);
      return s.queued === 0 && s.runningTasks === 0;
    },
    30_000,
    'the duplicate to be received and acked',
  );
  await until(() => ffmpegPids(d).length === 0, 10_000, 'no ffmpeg left');
}

/**
 * Jobs are created while feederd has no workers, so their first messages can be read from the
 * queue; then feederd is restarted with two workers on the same data dir to run them.
 */
async function withMessages(
  d: string,
  submit: (f: RunningFeederd) => Promise<void>,
): Promise<{ f: RunningFeederd; messages: ReturnType<typeof queuedMessages> }> {
  const idle = await startFeederd(d, { workers: 0, config: CONFIG });
  running.push(idle);
  await submit(idle);
  await until(() => queuedMessages(idle.home).length > 0, 10_000, 'the tasks to be sent');
  await sleep(300);
  const messages = queuedMessages(idle.home);
  await idle.stop();
  const f = await startFeederd(d, { workers: 2, config: CONFIG });
  running.push(f);
  return { f, messages };
}

test('a chunk task delivered again after its chunked job succeeded writes no piece into the removed scratch', async () => {
  const t = tempDir('nommer-dup-');
  dirs.push(t);
  const d = t.path;
  // Four 1 s chunks of the smallest picture, encoded at libvpx's fastest: the test is about the
  // chunk task's message, not the encode.
  const clip = makeClip(join(d, 'c.mp4'), { seconds: 4, width: 160, height: 120, extra: ['-g', '25'] });
  let job!: PublicJob;
  const { f, messages } = await withMessages(d, async (idle) => {
    job = (
      await idle.client.createJob({
        input: clip,
        outputs: [{ preset: 'webm', uri: join(d, 'c.webm') }],
        chunked: true,
        set: FAST_VIDEO,
      })
    ).job;
  });
  const chunk = messages.find((m) => m.type === 'chunk' && /\.chunk-\d+$/.test(m.taskId));
  assert.ok(chunk, `a chunk task message was queued: ${messages.map((m) => m.type).join(',')}`);
  assert.equal((await settle(f, job.id, 120_000)).state, 'succeeded');
  const chunks = join(f.home, 'chunks');
  await until(
    () => !existsSync(chunks) || readdirSync(chunks).length === 0,
    10_000,
    'the assembler to remove the intermediates',
  );

  sendAgain(f.home, chunk);
  await duplicateConsumed(f, d);
  const left = existsSync(chunks) ? readdirSync(chunks, { recursive: true }) : [];
  assert.deepEqual(
    left,
    [],
    `the duplicate of ${chunk.taskId} wrote into the finished job's scratch: ${JSON.stringify(left)}`,
  );
  assert.deepEqual(partialFiles(d), []);
  assert.equal((await settle(f, job.id, 1000)).state, 'succeeded', 'the job is still succeeded');
  await f.stop();
});

test('an encode task of a force job delivered again after it succeeded does not rewrite the output', async () => {
  const t = tempDir('nommer-dup-');
  dirs.push(t);
  const d = t.path;
  const clip = makeClip(join(d, 'a.mp4'), { seconds: 1, width: 160, height: 120 });
  const out = join(d, 'a.opus');
  let job!: PublicJob;
  const { f, messages } = await withMessages(d, async (idle) => {
    job = (
      await idle.client.createJob({
        input: clip,
        outputs: [{ preset: 'opus', uri: out }],
        force: true,
      })
    ).job;
  });
  const encode = messages.find((m) => m.type === 'encode');
  assert.ok(encode, 'the encode task message was queued');
  assert.equal((await settle(f, job.id, 60_000)).state, 'succeeded');
  const before = statSync(out);

  sendAgain(f.home, encode);
  await duplicateConsumed(f, d);
  const now = statSync(out);
  assert.equal(now.ino, before.ino, 'the output is the file the task committed once (not replaced by a second run)');
  assert.equal(now.mtimeMs, before.mtimeMs);
  assert.deepEqual(partialFiles(d), []);
  await f.stop();
});
