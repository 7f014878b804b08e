// Watches (migration 0012): the record a watch keeps, its schema, and reading it back. The spec
// column is JSON written by add-watch.ts and parsed here, never cast.
import * as z from 'zod';
import { createWatchBody } from '../../api/contract.js';
import type { Db } from '../../adapters/local/db.js';
import { readBack } from '../../read-back.js';
import { sql } from './rows.js';

const HINT = 'it was written by another nommer version or edited by hand: remove the watch and add it again';

/** What a watch asks for, as POST /v1/watches took it and checked it (api/contract.ts). */
export const watchSpec = createWatchBody;
export type WatchSpec = z.output<ReturnType<typeof watchSpec>>;

export interface Watch {
  id: string;
  spec: WatchSpec;
  createdAt: number;
  state: 'ok' | 'error';
  /** What is wrong at the source (`folder missing`, `folder unreadable`), when state is error. */
  error: string | null;
  scannedAt: number | null;
  /** Files this watch has made jobs of. */
  files: number;
}

const watchRow = z.object({
  id: z.string(),
  spec: z.string(),
  created_at: z.number(),
  state: z.enum(['ok', 'error']),
  error: z.string().nullable(),
  scanned_at: z.number().nullable(),
  files: z.number(),
});

function watchFromRow(raw: unknown): Watch {
  const r = watchRow.parse(raw);
  return {
    id: r.id,
    spec: readBack(watchSpec(), r.spec, `the job store's watches.spec of watch ${r.id}`, HINT),
    createdAt: r.created_at,
    state: r.state,
    error: r.error,
    scannedAt: r.scanned_at,
    files: r.files,
  };
}

const SELECT = `SELECT w.*, (SELECT count(*) FROM watch_files f WHERE f.watch_id = w.id) AS files FROM watches w`;

export function listWatches(db: Db): Watch[] {
  return sql(db, `${SELECT} ORDER BY w.created_at, w.id`).all().map(watchFromRow);
}

export function getWatch(db: Db, id: string): Watch | null {
  const row = sql(db, `${SELECT} WHERE w.id = ?`).get(id);
  return row === undefined ? null : watchFromRow(row);
}

/** A file a watch made a job of (watch_files), as a rescan compares it. */
export interface WatchedFile {
  path: string;
  contentHash: string;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  jobId: string | null;
}

const fileRow = z.object({
  path: z.string(),
  content_hash: z.string(),
  dev: z.number(),
  ino: z.number(),
  size: z.number(),
  mtime_ms: z.number(),
  job_id: z.string().nullable(),
});

function fileFromRow(raw: unknown): WatchedFile {
  const r = fileRow.parse(raw);
  return {
    path: r.path,
    contentHash: r.content_hash,
    dev: r.dev,
    ino: r.ino,
    size: r.size,
    mtimeMs: r.mtime_ms,
    jobId: r.job_id,
  };
}

/** The newest record of a path under a watch, or null when no job was made of it. */
export function lastWatchedFile(db: Db, watchId: string, path: string): WatchedFile | null {
  const row = sql(db, 'SELECT * FROM watch_files WHERE watch_id = ? AND path = ? ORDER BY at DESC LIMIT 1').get(
    watchId,
    path,
  );
  return row === undefined ? null : fileFromRow(row);
}
