// Opens nommer's SQLite database (the job store, and in the local backend also the queue and
// status tables) and brings its schema up to date from the numbered files in `migrations/`.
// This is the one module that imports better-sqlite3 at run time; others import its types only.
import Database from 'better-sqlite3';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { NommerError } from '../../errors.js';

export type Db = Database.Database;
/** A prepared statement (the store caches them): its type from here, so only adapters name better-sqlite3. */
export type Statement = Database.Statement;

export interface OpenOptions {
  /** Milliseconds a connection waits for another's write lock before SQLITE_BUSY (default 5000). */
  busyTimeoutMs?: number;
  /** Open an existing database read-only (no migrations). */
  readonly?: boolean;
}

const MIGRATION_FILE = /^(\d{4})-[\w.-]+\.sql$/;

/** Open (creating if needed) a database file: WAL, busy timeout, foreign keys, migrated. */
export function openDatabase(path: string, opts: OpenOptions = {}): Db {
  let db: Db;
  try {
    db = new Database(path, { readonly: opts.readonly ?? false, timeout: opts.busyTimeoutMs ?? 5000 });
  } catch (err) {
    throw storeError(err, path);
  }
  try {
    // busy_timeout first: switching to WAL takes a lock that a concurrent opener may hold.
    db.pragma(`busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
    if (!opts.readonly) {
      // Every job's paths, URLs and webhook targets are in it: its owner's only. SQLite gives
      // the -wal and -shm files the main file's mode.
      for (const f of [path, `${path}-wal`, `${path}-shm`]) {
        try {
          chmodSync(f, 0o600);
        } catch {
          /* not there yet, or not ours */
        }
      }
      // WAL lets workers (other processes) read and write while feederd holds its connection.
      db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode; only an OS crash may lose the
      // last commits, which at-least-once delivery and idempotent status events tolerate.
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    if (!opts.readonly) migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw storeError(err, path);
  }
}

/**
 * SQLite's own words for a data dir nommer cannot write ("unable to open database file",
 * "attempt to write a readonly database") name neither the file nor the fix: say both.
 */
function storeError(err: unknown, path: string): unknown {
  if (err instanceof NommerError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  if (/^SQLITE_(CANTOPEN|READONLY|PERM|AUTH)/.test(code) || ['EROFS', 'EACCES', 'EPERM'].includes(code)) {
    return new NommerError(
      'CONFIG_INVALID',
      `cannot open the job store ${path} for writing: ${(err as Error).message} (${code})`,
      {
        hint: 'the data dir must be writable: fix its permissions or mount, or point NOMMER_HOME at another directory',
        cause: err,
      },
    );
  }
  if (code === 'SQLITE_FULL') {
    return new NommerError(
      'DISK_FULL',
      `the job store ${path} cannot be written: ${(err as Error).message} (${code})`,
      { retriable: true, hint: "free space on the data dir's disk", cause: err },
    );
  }
  return err;
}

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/** The numbered migrations shipped with this package, in order. */
export function loadMigrations(dir = findMigrationsDir()): Migration[] {
  const out: Migration[] = [];
  for (const name of readdirSync(dir).sort()) {
    const m = MIGRATION_FILE.exec(name);
    if (!m) continue;
    out.push({ id: Number(m[1]), name, sql: readFileSync(join(dir, name), 'utf8') });
  }
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.id === out[i - 1]!.id)
      throw new NommerError('INTERNAL', `two migrations numbered ${out[i]!.id}: ${out[i - 1]!.name}, ${out[i]!.name}`);
  }
  return out;
}

const appliedRows = z.array(z.object({ id: z.number(), name: z.string() }));

/**
 * Apply the migrations this database has not seen, in one IMMEDIATE transaction: when several
 * processes open a fresh file at once, one migrates and the others wait, then find nothing to do.
 *
 * Numbers need not be contiguous: work done side by side takes numbers apart (0012 may ship before
 * 0011), and a migration that fills a gap later is applied then. That is safe because such
 * migrations touch different tables; what is refused is a database holding a migration this
 * nommer does not know, whatever its number (a newer or a parallel version wrote it).
 */
export function migrate(db: Db, migrations: Migration[] = loadMigrations()): { applied: string[] } {
  const applied: string[] = [];
  const run = db.transaction(() => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS nommer_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    const rows = appliedRows.parse(db.prepare('SELECT id, name FROM nommer_migrations ORDER BY id').all());
    const done = new Set(rows.map((r) => r.id));
    const known = new Map(migrations.map((m) => [m.id, m.name]));
    // By name too: two versions that took the same number for different changes are told apart.
    const unknown = rows.find((r) => known.get(r.id) !== r.name);
    if (unknown) {
      throw new NommerError(
        'CONFIG_INVALID',
        `the database has schema migration ${unknown.name}, which this nommer does not know (it knows up to ${Math.max(0, ...known.keys())})`,
        { hint: 'run the nommer version that wrote it (or a newer one), or point it at another database file' },
      );
    }
    const record = db.prepare('INSERT INTO nommer_migrations (id, name, applied_at) VALUES (?, ?, ?)');
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      db.exec(m.sql);
      record.run(m.id, m.name, Date.now());
      applied.push(m.name);
    }
  });
  run.immediate();
  return { applied };
}

/**
 * The package's `migrations/` directory. Compiled code lives in dist/src/..., sources in src/...,
 * so walk up from this file until a directory holding `migrations/` appears.
 */
export function findMigrationsDir(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  // Bounded by the depth of the path: dirname of the root is the root.
  for (;;) {
    const candidate = join(dir, 'migrations');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    const parent = dirname(dir);
    if (parent === dir)
      throw new NommerError('INTERNAL', `cannot find nommer's migrations/ directory above ${from}`, {
        hint: 'the package is incomplete; reinstall media-nommer',
      });
    dir = parent;
  }
}
