// Past jobs' speeds for the cost estimate (cost/estimate.ts): succeeded jobs whose media was
// probed at submission, with the slot time they took, newest first.
import type { Db } from '../../adapters/local/db.js';
import type { PastJob } from '../../cost/estimate.js';
import { presetKey } from '../../cost/estimate.js';
import { sql } from './rows.js';

export function pastSpeeds(db: Db, opts: { limit?: number } = {}): PastJob[] {
  const rows = sql(
    db,
    `SELECT outputs, json_extract(options, '$.media.seconds') AS seconds,
      json_extract(options, '$.media.height') AS height, worker_ms
    FROM jobs WHERE state = 'succeeded' AND worker_ms > 0 AND json_extract(options, '$.media.seconds') > 0
    ORDER BY finished_at DESC LIMIT ?`,
  ).all(opts.limit ?? 500) as Array<{ outputs: string; seconds: number; height: number | null; worker_ms: number }>;
  return rows.map((r) => ({
    preset: presetKey((JSON.parse(r.outputs) as Array<{ preset: { name: string } }>).map((o) => o.preset.name)),
    height: r.height,
    mediaSeconds: r.seconds,
    workerSeconds: r.worker_ms / 1000,
  }));
}
