// A success that was applied is never late: at-least-once delivery (an SQS duplicate, a feederd
// restart before the ack) brings the last task's `succeeded` event again after its job ended for
// another reason: its staged delivery failed (DELIVERY_FAILED, the outputs kept in staging for
// `nommer retry`), or it was canceled while delivering. The store refuses the repeat (job-final)
// and late-output take-back must not treat it as a late attempt's output: that deleted the only
// copy the error message promised to keep (review of the merged issue-23 fixes).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FsStorage } from '../src/adapters/local/fs-storage.js';
import { createLogger } from '../src/log.js';
import type { StatusEvent } from '../src/messages.js';
import { takeBackLateWork } from '../src/orchestrator/late-outputs.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { getPreset } from '../src/presets/registry.js';
import { statusEvent } from './helpers/store.js';

const dir = mkdtempSync(join(tmpdir(), 'nommer-late-dup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const end of ['delivery fails', 'canceled while delivering'] as const) {
  test(`a repeated success after the job ended (${end}) keeps the staged copy`, async () => {
    const store = openStore(join(dir, `${end.replace(/ /g, '-')}.db`));
    try {
      const staged = join(dir, `${end.replace(/ /g, '-')}-staged.opus`);
      const { job } = store.createJob({
        input: '/media/in.mp4',
        outputs: [{ preset: getPreset('opus'), uri: staged }],
        options: { deliver: [{ from: staged, to: join(dir, 'asked.opus') }] },
      });
      const taskId = job.tasks[0]!.id;
      store.markTaskDispatched(taskId, 1);
      const ev = (seq: number, over: Partial<StatusEvent>): StatusEvent =>
        statusEvent(job.id, seq, 'started', { taskId, ...over });
      assert.equal(store.applyStatusEvent(ev(1, {})).applied, true);
      writeFileSync(staged, 'the only copy');
      const succeeded = ev(2, { type: 'succeeded', outputs: [{ uri: staged, bytes: 13 }] } as Partial<StatusEvent>);
      assert.equal(store.applyStatusEvent(succeeded).applied, true);
      assert.equal(store.getJob(job.id)?.phase, 'delivering');
      if (end === 'delivery fails')
        store.endDelivery(job.id, {
          code: 'DELIVERY_FAILED',
          message: `the outputs stay in ${staged}`,
          retriable: false,
        });
      else store.cancelJob(job.id);
      assert.match(store.getJob(job.id)!.state, /^(failed|canceled)$/);
      const again = store.applyStatusEvent(succeeded);
      assert.equal(again.applied, false, 'the repeat is refused');
      await takeBackLateWork(
        store,
        new FsStorage(),
        createLogger('test', { level: 'silent' }),
      )(succeeded, {
        reason: again.reason,
        job: again.job,
      });
      assert.ok(existsSync(staged), 'the staged copy is still there for nommer retry');
    } finally {
      store.close();
    }
  });
}
