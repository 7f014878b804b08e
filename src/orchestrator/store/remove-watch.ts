// Removing a watch forgets the files it saw (ON DELETE CASCADE); the jobs it made stay.
import type { Db } from '../../adapters/local/db.js';
import { immediate, sql } from './rows.js';
import { getWatch, type Watch } from './watch-rows.js';

function removeIn(db: Db, id: string): Watch | null {
  const w = getWatch(db, id);
  if (w) sql(db, 'DELETE FROM watches WHERE id = ?').run(id);
  return w;
}

/** The watch as it was, or null when there is none by that id. */
export function removeWatch(db: Db, id: string): Watch | null {
  return immediate(db, removeIn)(db, id);
}
