-- 0006: staged deliveries (aws backend) that survive a feederd restart.
-- A succeeded job whose local outputs wait in the staging prefix is "pending" until it has a row
-- here: delivered (error NULL), or given up on with the error (its staged objects are kept).
CREATE TABLE job_deliveries (
  job_id  TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  at      INTEGER NOT NULL,
  error   TEXT
) WITHOUT ROWID;
-- Jobs that succeeded before this table existed were delivered (or failed to be) by then.
INSERT INTO job_deliveries (job_id, at, error) SELECT id, updated_at, NULL FROM jobs WHERE state = 'succeeded';
