-- 0001: the job store (jobs, their tasks, their event history) and the local backend's message
-- tables (the task queue and the status channel share one table, told apart by `queue`).
-- Times are milliseconds since the epoch. JSON columns hold text written by nommer itself.

CREATE TABLE jobs (
  id               TEXT PRIMARY KEY,           -- 'j_' + time-sortable random id
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  state            TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  phase            TEXT CHECK (phase IN ('downloading', 'encoding', 'uploading')),
  attempt          INTEGER NOT NULL DEFAULT 1, -- highest attempt among the job's tasks
  max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
  priority         INTEGER NOT NULL DEFAULT 0,
  progress         REAL NOT NULL DEFAULT 0,    -- weighted sum of the tasks' progress, 0..1
  fps              REAL,
  speed            REAL,
  eta              REAL,                       -- seconds
  input            TEXT NOT NULL,
  outputs          TEXT NOT NULL,              -- JSON [{preset, uri, bytes?}]
  notify_url       TEXT,
  idempotency_key  TEXT UNIQUE,
  worker           TEXT,
  error_code       TEXT,
  error_message    TEXT,
  error_retriable  INTEGER,
  options          TEXT NOT NULL DEFAULT '{}'  -- JSON (force, ...)
);

-- `nommer status` lists newest first, optionally by state, with (created_at, id) cursors.
CREATE INDEX jobs_by_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_by_state_created ON jobs (state, created_at DESC, id DESC);

-- Jobs per state, kept by triggers, so the summary costs the same with 100 or 10 million jobs.
CREATE TABLE job_counts (
  state  TEXT PRIMARY KEY,
  n      INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO job_counts (state, n) VALUES ('queued', 0), ('running', 0), ('succeeded', 0), ('failed', 0), ('canceled', 0);

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
  UPDATE job_counts SET n = n + 1 WHERE state = NEW.state;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
  UPDATE job_counts SET n = n - 1 WHERE state = OLD.state;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs WHEN OLD.state <> NEW.state BEGIN
  UPDATE job_counts SET n = n - 1 WHERE state = OLD.state;
  UPDATE job_counts SET n = n + 1 WHERE state = NEW.state;
END;

-- What a worker leases. An ordinary job has one 'encode' task; a chunked job has
-- probe -> chunk x N -> assemble, wired by `deps` (task ids that must succeed first).
CREATE TABLE tasks (
  id                  TEXT PRIMARY KEY,         -- 't_' + time-sortable random id
  job_id              TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  type                TEXT NOT NULL CHECK (type IN ('encode', 'probe', 'chunk', 'assemble')),
  state               TEXT NOT NULL CHECK (state IN ('waiting', 'queued', 'running', 'succeeded', 'failed', 'canceled')),
  phase               TEXT CHECK (phase IN ('downloading', 'encoding', 'uploading')),
  attempt             INTEGER NOT NULL DEFAULT 1,
  max_attempt         INTEGER NOT NULL,         -- last attempt number retried automatically
  seq_applied         INTEGER NOT NULL DEFAULT -1, -- highest status seq applied for `attempt`
  deps                TEXT NOT NULL DEFAULT '[]',  -- JSON [taskId]
  params              TEXT,                     -- JSON, opaque type-specific parameters
  result              TEXT,                     -- JSON, what the worker reported on success
  progress            REAL NOT NULL DEFAULT 0,
  weight              REAL NOT NULL DEFAULT 1 CHECK (weight > 0),
  worker              TEXT,
  -- Outbox: the attempt last handed to the queue. A queued task with dispatched_attempt < attempt
  -- still has to be sent; the dispatcher sends, then marks, so a crash in between re-sends.
  dispatched_attempt  INTEGER NOT NULL DEFAULT 0,
  heartbeat_at        INTEGER,                  -- when the last status event for it was applied
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL,
  started_at          INTEGER,
  finished_at         INTEGER,
  error_code          TEXT,
  error_message       TEXT,
  error_retriable     INTEGER
);

CREATE INDEX tasks_by_job ON tasks (job_id);
CREATE INDEX tasks_to_dispatch ON tasks (created_at) WHERE state = 'queued';
CREATE INDEX tasks_by_heartbeat ON tasks (heartbeat_at) WHERE state = 'running';

-- History a person can read back: state and phase changes, retries, errors (not every progress tick).
CREATE TABLE job_events (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id   TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  task_id  TEXT,
  at       INTEGER NOT NULL,
  type     TEXT NOT NULL,
  state    TEXT NOT NULL,
  phase    TEXT,
  attempt  INTEGER NOT NULL,
  message  TEXT NOT NULL,
  data     TEXT                                 -- JSON
);

CREATE INDEX job_events_by_job ON job_events (job_id, id);

-- Local backend: messages of named queues ('tasks', 'status'). A message is leased by moving
-- visible_at into the future and setting lease_token; whoever holds the token may extend, ack,
-- release or reject it. An expired lease simply makes it visible again.
CREATE TABLE queue_messages (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  queue          TEXT NOT NULL,
  body           TEXT NOT NULL,
  priority       INTEGER NOT NULL DEFAULT 0,
  sent_at        INTEGER NOT NULL,
  visible_at     INTEGER NOT NULL,
  lease_token    TEXT,
  receive_count  INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX queue_messages_by_order ON queue_messages (queue, priority DESC, id, visible_at);
CREATE INDEX queue_messages_by_visible ON queue_messages (queue, visible_at);

CREATE TABLE queue_dead_letters (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  queue          TEXT NOT NULL,
  message_id     INTEGER NOT NULL,
  body           TEXT NOT NULL,
  priority       INTEGER NOT NULL,
  sent_at        INTEGER NOT NULL,
  receive_count  INTEGER NOT NULL,
  reason         TEXT NOT NULL,
  dead_at        INTEGER NOT NULL
);

CREATE INDEX queue_dead_letters_by_queue ON queue_dead_letters (queue, id);
