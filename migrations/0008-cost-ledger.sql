-- 0008: what a job's outputs are and what the fleet really cost.
--
-- jobs.output_media: JSON [{uri, seconds, height}] of the job's outputs as the worker measured
-- them (ffprobe of the encoded file), for the cost per output minute. NULL until measured.
--
-- instances: feederd's ledger of the EC2 workers it saw, kept by the fleet manager: launch,
-- last seen and end, type, market and the $/hour it paid. Once an instance has ended and none of
-- its tasks still runs, it is settled: its bill (billed seconds x price) is split over the jobs
-- it ran, pro rata by slot time (fleet/attribution.ts), boot and idle tail included.
--
-- instance_use: slot time per (instance, job), added as each task attempt ends (from the worker
-- id: `i-abc/1` is a slot of `i-abc`). share_nano is the job's share of the instance's bill once
-- settled, in nanodollars; jobs.settled_ms/settled_nano sum the settled uses, so a job's cost is
-- its unsettled slot time at the slot price plus its settled shares.
ALTER TABLE jobs ADD COLUMN output_media TEXT;
ALTER TABLE jobs ADD COLUMN settled_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN settled_nano INTEGER NOT NULL DEFAULT 0;

CREATE TABLE instances (
  id                TEXT PRIMARY KEY,
  instance_type     TEXT,
  spot              INTEGER NOT NULL DEFAULT 0,
  price_per_hour    REAL,
  price_basis       TEXT NOT NULL DEFAULT '',
  launched_at       INTEGER NOT NULL,
  first_task_at     INTEGER,
  last_seen_at      INTEGER NOT NULL,
  ended_at          INTEGER,
  settled_at        INTEGER,
  billed_seconds    INTEGER,
  billed_nano       INTEGER,
  -- The part of the bill no job took (an instance that ran nothing while no other did either).
  unattributed_nano INTEGER
);
CREATE INDEX instances_unsettled ON instances (settled_at) WHERE settled_at IS NULL;
CREATE INDEX instances_launched ON instances (launched_at);

CREATE TABLE instance_use (
  instance_id TEXT NOT NULL,
  job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  held_ms     INTEGER NOT NULL DEFAULT 0,
  first_at    INTEGER,
  last_at     INTEGER,
  share_nano  INTEGER,
  PRIMARY KEY (instance_id, job_id)
);
CREATE INDEX instance_use_job ON instance_use (job_id);
