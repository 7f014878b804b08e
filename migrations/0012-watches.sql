-- 0012: watch folders (issue 28). A watch turns each file that arrives under a folder into a job.
-- (Numbered two above the highest on main, 0010: another helper may add 0011 at the same time.)
-- `spec` is the watch's request (presets, destination, overrides, recursive, pattern) as JSON,
-- parsed by store/watches.ts; `state`/`error` say what feederd last found at the folder.
CREATE TABLE watches (
  id          TEXT PRIMARY KEY,
  source      TEXT NOT NULL,
  spec        TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  state       TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'error')),
  error       TEXT,
  scanned_at  INTEGER
);

-- Each file a watch made a job of, by its path and content (a SHA-256 of its size and first and
-- last MiB): a restart, a rescan or a touch finds the row and makes no second job; a change of
-- content is a new row and a new job. dev/ino/size/mtime let a rescan skip hashing an unchanged file.
CREATE TABLE watch_files (
  watch_id      TEXT NOT NULL REFERENCES watches (id) ON DELETE CASCADE,
  path          TEXT NOT NULL,
  content_hash  TEXT NOT NULL,
  dev           INTEGER NOT NULL,
  ino           INTEGER NOT NULL,
  size          INTEGER NOT NULL,
  mtime_ms      REAL NOT NULL,
  job_id        TEXT,
  at            INTEGER NOT NULL,
  PRIMARY KEY (watch_id, path, content_hash)
) WITHOUT ROWID;
CREATE INDEX watch_files_by_path ON watch_files (watch_id, path, at);
