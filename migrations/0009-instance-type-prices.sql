-- 0009: slot time priced at the instance type a worker says it runs on (its status events'
-- `instance`, worker/instance-type.ts) rather than at the job's slot price (the dearest type the
-- fleet may launch).
--
-- tasks.slot_price / price_basis: $/hour of one slot of the worker running the task's current
-- attempt, and why; NULL when that worker said no type (an older worker) or the type has no price.
-- instance_use.typed_ms / typed_nano and jobs.typed_ms / typed_nano: the slot time priced so and
-- what it cost (nanodollars), not yet settled: settling an instance (its real bill) takes its
-- typed part out of the job's, so nothing is paid twice. jobs.typed_basis: JSON list of the
-- prices used.
ALTER TABLE tasks ADD COLUMN slot_price REAL;
ALTER TABLE tasks ADD COLUMN price_basis TEXT;
ALTER TABLE instance_use ADD COLUMN typed_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE instance_use ADD COLUMN typed_nano INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN typed_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN typed_nano INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN typed_basis TEXT;
