-- 0013: the `scenes` task kind (src/tasks/scenes.ts): a chunked job's scene detection, run on the
-- worker that reads the input. SQLite changes the CHECK on type by rebuilding the table (as 0011).
CREATE TABLE tasks_0013 (
  id                  TEXT PRIMARY KEY,
  job_id              TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  type                TEXT NOT NULL CHECK (type IN ('encode', 'probe', 'chunk', 'audio', 'assemble', 'rendition',
                                                    'rendition-chunk', 'package-audio', 'extras', 'package',
                                                    'scenes')),
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

INSERT INTO tasks_0013 SELECT * FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_0013 RENAME TO tasks;
CREATE INDEX tasks_by_job ON tasks (job_id);
CREATE INDEX tasks_to_dispatch ON tasks (created_at) WHERE state = 'queued';
CREATE INDEX tasks_by_heartbeat ON tasks (heartbeat_at) WHERE state = 'running';
CREATE INDEX tasks_outbox ON tasks (created_at, id) WHERE state = 'queued' AND dispatched_attempt < attempt;
