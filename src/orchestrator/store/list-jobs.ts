// listJobs: newest first, optionally by state, a page at a time. Keyset pagination on
// (created_at, id) walks an index from the cursor, so page 500 costs what page 1 costs.
import type { Db } from '../../adapters/local/db.js';
import { NommerError } from '../../errors.js';
import { JOB_STATES } from '../../jobs/types.js';
import { jobFromRow, sql, type JobRow } from './rows.js';
import type { Job, JobPage, ListJobsOptions } from './types.js';

// Constant SQL per shape; values are always parameters.
const Q = {
  all: 'SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT @limit',
  allAfter: 'SELECT * FROM jobs WHERE (created_at, id) < (@at, @id) ORDER BY created_at DESC, id DESC LIMIT @limit',
  state: 'SELECT * FROM jobs WHERE state = @state ORDER BY created_at DESC, id DESC LIMIT @limit',
  stateAfter:
    'SELECT * FROM jobs WHERE state = @state AND (created_at, id) < (@at, @id) ORDER BY created_at DESC, id DESC LIMIT @limit',
} as const;

export function listJobs(db: Db, opts: ListJobsOptions = {}): JobPage {
  const limit = Math.min(Math.max(1, Math.trunc(opts.limit ?? 50)), 1000);
  const after = opts.cursor ? decodeCursor(opts.cursor) : null;
  const states =
    opts.state === undefined ? null : [...new Set(typeof opts.state === 'string' ? [opts.state] : opts.state)];
  for (const s of states ?? []) {
    if (!(JOB_STATES as readonly string[]).includes(s))
      throw new NommerError('USAGE', `unknown job state ${JSON.stringify(s)} (one of ${JOB_STATES.join(', ')})`);
  }
  // One more than asked tells whether there is a next page.
  const params = { limit: limit + 1, at: after?.at, id: after?.id };
  let rows: JobRow[];
  if (!states) {
    rows = sql(db, after ? Q.allAfter : Q.all).all(params) as JobRow[];
  } else {
    // Several states: one index range per state, merged here, instead of a sort over all of them.
    rows = [];
    for (const state of states)
      rows.push(...(sql(db, after ? Q.stateAfter : Q.state).all({ ...params, state }) as JobRow[]));
    rows.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    rows = rows.slice(0, limit + 1);
  }
  const jobs: Job[] = rows.slice(0, limit).map(jobFromRow);
  const last = jobs[jobs.length - 1];
  return { jobs, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
}

function encodeCursor(at: number, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

function decodeCursor(cursor: string): { at: number; id: string } {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isInteger(v[0]) && typeof v[1] === 'string')
      return { at: v[0], id: v[1] };
  } catch {
    /* falls through to the error below */
  }
  throw new NommerError('USAGE', `invalid cursor ${JSON.stringify(cursor)}`, {
    hint: 'pass back the nextCursor of the previous page unchanged',
  });
}
