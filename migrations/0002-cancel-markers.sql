-- 0002: the local backend's control channel: jobs canceled by the orchestrator. Workers check it
-- on their heartbeat and stop ffmpeg; a retry clears the marker.
CREATE TABLE cancel_markers (
  job_id  TEXT PRIMARY KEY,
  at      INTEGER NOT NULL
);
