// Past jobs' speeds for the cost estimate (cost/estimate.ts): succeeded jobs whose media was
// probed at submission, with the slot time they took, newest first.
import type { Db } from '../../adapters/local/db.js';
import type { PastJob } from '../../cost/estimate.js';
import { presetKey } from '../../cost/estimate.js';
import { parseJobOptions } from './job-options.js';
import { type JobRow, outputsOf, sql } from './rows.js';

export function pastSpeeds(db: Db, opts: { limit?: number } = {}): PastJob[] {
  const rows = sql(
    db,
    `SELECT id, outputs, options, worker_ms
    FROM jobs WHERE state = 'succeeded' AND worker_ms > 0 AND json_extract(options, '$.media.seconds') > 0
    ORDER BY finished_at DESC LIMIT ?`,
  ).all(opts.limit ?? 500) as Array<Pick<JobRow, 'id' | 'outputs' | 'options'> & { worker_ms: number }>;
  return rows.flatMap((r) => {
    const media = parseJobOptions(r.options).media;
    if (!media) return [];
    return [
      {
        preset: presetKey(outputsOf(r.outputs, r.id).map((o) => o.preset.name)),
        height: media.height,
        mediaSeconds: media.seconds,
        workerSeconds: r.worker_ms / 1000,
      },
    ];
  });
}
