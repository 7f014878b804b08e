// Watches (migration 0012): the record a watch keeps, its schema, and reading it back. The spec
// column is JSON written by add-watch.ts and parsed here, never cast.
import { z } from 'zod';
import type { Db } from '../../adapters/local/db.js';
import { sql } from './rows.js';

/** What a watch asks for: every whole file under `source` becomes a job with these outputs. */
export const watchSpec = z.strictObject({
  /** An absolute folder path (or s3://bucket/prefix/ on the aws backend). */
  source: z.string().min(1).max(4096),
  presets: z.array(z.string().min(1).max(64)).min(1).max(16),
  /** The folder outputs go under, following each input's path relative to `source`. */
  dest: z.string().min(1).max(4096),
  set: z.array(z.string().max(200)).max(50).default([]),
  recursive: z.boolean().default(false),
  /** A glob on the file name (or on the relative path when it holds a `/`). */
  pattern: z.string().min(1).max(200).optional(),
});
export type WatchSpec = z.output<typeof watchSpec>;

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
    spec: watchSpec.parse(JSON.parse(r.spec)),
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
