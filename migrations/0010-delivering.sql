-- 0010: aws staged outputs are part of a job's end. A job whose tasks are done waits `running`
-- while feederd delivers its outputs to their local paths; its phase is then `delivering`, kept
-- here because the phase column's CHECK (0001) names the workers' phases only and SQLite cannot
-- change a CHECK without rebuilding the table.
ALTER TABLE jobs ADD COLUMN delivering INTEGER NOT NULL DEFAULT 0;
