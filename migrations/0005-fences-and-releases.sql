-- 0005: exactly-once effects on an at-least-once queue.
-- Fences replace cancel markers: "attempts up to N of this job's tasks (task_id '' = every task)
-- are void". A canceled, failed or superseded attempt's worker stops and writes nothing; a retry
-- gives the tasks attempts above the fence, so nothing has to be cleared (and no clear can race
-- a worker still on the old attempt).
CREATE TABLE control_fences (
  job_id   TEXT NOT NULL,
  task_id  TEXT NOT NULL DEFAULT '',
  up_to    INTEGER NOT NULL,
  at       INTEGER NOT NULL,
  PRIMARY KEY (job_id, task_id)
) WITHOUT ROWID;
INSERT INTO control_fences (job_id, task_id, up_to, at)
  SELECT m.job_id, '', coalesce((SELECT j.attempt FROM jobs j WHERE j.id = m.job_id), 1000000), m.at FROM cancel_markers m;
DROP TABLE cancel_markers;

-- A delivery given back on purpose (a worker shutting down) is not a lost one: it does not count
-- toward the dead-letter limit. receive_count keeps counting every delivery (status seq numbers).
ALTER TABLE queue_messages ADD COLUMN released_count INTEGER NOT NULL DEFAULT 0;
