// A chunked job's cleanup sweep and a retry of the same job, interleaved at their worst, step by
// step (a storage whose removals wait for the test): a retry while the sweep runs still finds its
// chunk list when the sweep ends, and the retry's look at the pieces waits for the sweep, so the
// chunks the sweep took are queued again. The chaos test's run saw the first as a retried job
// failing at its join: "chunk-list.json is missing" (STORAGE_FAILED).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsStorage } from '../src/adapters/local/fs-storage.js';
import { chunkedTasks } from '../src/chunked/tasks.js';
import { planChunks } from '../src/chunked/plan.js';
import { createLogger } from '../src/log.js';
import { attachChunkCleanup, chunksToRerun, sweepOf } from '../src/orchestrator/chunk-cleanup.js';
import type { Store } from '../src/orchestrator/store/index.js';
import { entryUri } from '../src/pieces.js';
import { assembleParams } from '../src/tasks/params.js';
import { storePlannedObjects } from '../src/tasks/plan-objects.js';
import { plainJob, statusEvent, storeFactory } from './helpers/store.js';

const { fresh, dir } = storeFactory('cleanup-race');
const log = createLogger('test', { level: 'silent' });

/** Local storage whose removals wait until `open()`; `entered` resolves at the first one. */
class GatedStorage extends FsStorage {
  #open!: () => void;
  readonly #gate = new Promise<void>((r) => {
    this.#open = r;
  });
  #entered!: () => void;
  readonly entered = new Promise<void>((r) => {
    this.#entered = r;
  });
  open(): void {
    this.#open();
  }
  override async remove(uri: string): Promise<void> {
    this.#entered();
    await this.#gate;
    return super.remove(uri);
  }
}

/** A chunked job of three 1 s chunks whose first two have succeeded (their pieces stored). */
async function chunkedJob(store: Store, storage: FsStorage, name: string) {
  const scratch = `${join(dir.path, name)}/`;
  mkdirSync(scratch, { recursive: true });
  const times = Array.from({ length: 75 }, (_, i) => i / 25);
  const plan = planChunks({ times, keyframes: [0, 25, 50], formatStart: 0, fps: 25 }, { chunkSeconds: 1 });
  const tasks = chunkedTasks(plan, { scratch, audio: false });
  await storePlannedObjects(storage, tasks);
  const { job } = store.createJob({
    ...plainJob({ outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: join(dir.path, `${name}.webm`) }] }),
    options: {
      chunking: { chunked: true, chunks: 3, scratch, frames: 75, timeline: 'packets' },
    },
    tasks: tasks.map(({ objects: _o, ...t }) => t),
  });
  let seq = 0;
  for (const key of ['chunk-000', 'chunk-001']) {
    const t = store.getJob(job.id)!.tasks.find((x) => x.id === `${job.id}.${key}`)!;
    const uri = String(t.params?.uri);
    writeFileSync(uri, 'piece');
    writeFileSync(entryUri(uri), '{}');
    store.applyStatusEvent(statusEvent(job.id, ++seq, 'started', { taskId: t.id }));
    store.applyStatusEvent(statusEvent(job.id, ++seq, 'succeeded', { taskId: t.id }));
  }
  const list = assembleParams.parse(store.getJob(job.id)!.tasks.find((t) => t.type === 'assemble')!.params).chunks;
  return { job, list: list.uri };
}

test('a job retried while its sweep runs keeps its chunk list: the sweep, ending on a retried job, stores it again', async () => {
  const store = fresh();
  const storage = new GatedStorage();
  const { job, list } = await chunkedJob(store, storage, 'during');
  const detach = attachChunkCleanup(store, storage, log, { resweepMs: 3_600_000 });
  try {
    store.cancelJob(job.id, { reason: 'by the test' });
    await storage.entered; // the sweep has begun, and waits at its first removal
    store.retryJob(job.id); // the retry lands while it runs
    storage.open();
    await sweepOf(store, job.id);
    assert.equal(await storage.exists(list), true, 'the chunk list the retried join reads is there');
  } finally {
    detach();
    store.close();
  }
});

test("a retry's look at the pieces waits for the sweep under way: the chunks it removed are queued again", async () => {
  const store = fresh();
  const storage = new GatedStorage();
  const { job, list } = await chunkedJob(store, storage, 'waits');
  const detach = attachChunkCleanup(store, storage, log, { resweepMs: 3_600_000 });
  try {
    store.cancelJob(job.id, { reason: 'by the test' });
    await storage.entered;
    assert.ok(sweepOf(store, job.id), 'a sweep is under way');
    const rerun = chunksToRerun(store, storage, job.id);
    storage.open();
    const ids = await rerun;
    assert.deepEqual(ids.sort(), [`${job.id}.chunk-000`, `${job.id}.chunk-001`], 'both removed pieces run again');
    store.retryJob(job.id, { rerun: ids });
    assert.equal(await storage.exists(list), true);
    assert.deepEqual(
      store
        .getJob(job.id)!
        .tasks.filter((t) => t.type === 'chunk')
        .map((t) => t.state),
      ['queued', 'queued', 'queued'],
    );
  } finally {
    detach();
    store.close();
  }
});
