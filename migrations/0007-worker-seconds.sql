-- 0007: what a job cost in worker time. A task's held_ms adds up the time each of its attempts
-- held a worker slot (from started to the attempt's end: success, failure, release, loss or
-- cancel); a job's worker_ms is the sum over its tasks, retries included.
ALTER TABLE tasks ADD COLUMN held_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN worker_ms INTEGER NOT NULL DEFAULT 0;
