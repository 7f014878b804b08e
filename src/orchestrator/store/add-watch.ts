// A new watch, stored with its spec; feederd's watcher picks it up on its next pass.
import { randomBytes } from 'node:crypto';
import type { Db } from '../../adapters/local/db.js';
import { sql } from './rows.js';
import { getWatch, type Watch, type WatchSpec } from './watch-rows.js';

export function addWatch(db: Db, spec: WatchSpec, now = Date.now()): Watch {
  const id = `w_${randomBytes(6).toString('hex')}`;
  sql(db, 'INSERT INTO watches (id, source, spec, created_at) VALUES (?, ?, ?, ?)').run(
    id,
    spec.source,
    JSON.stringify(spec),
    now,
  );
  return getWatch(db, id)!;
}
