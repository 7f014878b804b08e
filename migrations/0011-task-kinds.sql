-- 0011: a task's type is its kind (src/tasks/params.ts): a chunked job's `chunk`, `audio` and
-- `assemble`; a package's `rendition`, `rendition-chunk`, `package-audio`, `extras` and
-- `package`. Before, a package's tasks were `chunk`/`assemble` told apart by params.kind, and
-- the CHECK on type named only those. SQLite changes a CHECK by rebuilding the table (no table
-- references tasks; the indexes are made again). Existing rows get their kind from params.kind.
CREATE TABLE tasks_0011 (
  id                  TEXT PRIMARY KEY,
  job_id              TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  type                TEXT NOT NULL CHECK (type IN ('encode', 'probe', 'chunk', 'audio', 'assemble', 'rendition',
                                                    'rendition-chunk', 'package-audio', 'extras', 'package')),
  state               TEXT NOT NULL CHECK (state IN ('waiting', 'queued', 'running', 'succeeded', 'failed', 'canceled')),
  phase               TEXT CHECK (phase IN ('downloading', 'encoding', 'uploading')),
  attempt             INTEGER NOT NULL DEFAULT 1,
  max_attempt         INTEGER NOT NULL,
  seq_applied         INTEGER NOT NULL DEFAULT -1,
  deps                TEXT NOT NULL DEFAULT '[]',
  params              TEXT,
  result              TEXT,
  progress            REAL NOT NULL DEFAULT 0,
  weight              REAL NOT NULL DEFAULT 1 CHECK (weight > 0),
  worker              TEXT,
  dispatched_attempt  INTEGER NOT NULL DEFAULT 0,
  heartbeat_at        INTEGER,
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL,
  started_at          INTEGER,
  finished_at         INTEGER,
  error_code          TEXT,
  error_message       TEXT,
  error_retriable     INTEGER,
  held_ms             INTEGER NOT NULL DEFAULT 0,
  slot_price          REAL,
  price_basis         TEXT
);
INSERT INTO tasks_0011
SELECT id, job_id,
       CASE
         WHEN type = 'chunk' AND json_valid(params) THEN
           CASE json_extract(params, '$.kind')
             WHEN 'audio' THEN 'audio'
             WHEN 'rendition' THEN 'rendition'
             WHEN 'rendition-chunk' THEN 'rendition-chunk'
             WHEN 'abr-audio' THEN 'package-audio'
             WHEN 'extras' THEN 'extras'
             ELSE 'chunk' END
         WHEN type = 'assemble' AND json_valid(params) AND json_extract(params, '$.kind') = 'package' THEN 'package'
         ELSE type END,
       state, phase, attempt, max_attempt, seq_applied, deps, params, result, progress, weight, worker,
       dispatched_attempt, heartbeat_at, created_at, updated_at, started_at, finished_at, error_code,
       error_message, error_retriable, held_ms, slot_price, price_basis
  FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_0011 RENAME TO tasks;
CREATE INDEX tasks_by_job ON tasks (job_id);
CREATE INDEX tasks_to_dispatch ON tasks (created_at) WHERE state = 'queued';
CREATE INDEX tasks_by_heartbeat ON tasks (heartbeat_at) WHERE state = 'running';
CREATE INDEX tasks_outbox ON tasks (created_at, id) WHERE state = 'queued' AND dispatched_attempt < attempt;
