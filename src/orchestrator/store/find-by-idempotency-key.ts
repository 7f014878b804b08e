// findByIdempotencyKey: the job a key already made, or null (checked before staging uploads).
import type { Db } from '../../adapters/local/db.js';
import { sql, jobFromRow, type JobRow } from './rows.js';
import type { Job } from './types.js';

export function findByIdempotencyKey(db: Db, key: string): Job | null {
  const row = sql(db, 'SELECT * FROM jobs WHERE idempotency_key = ?').get(key) as JobRow | undefined;
  return row ? jobFromRow(row) : null;
}
