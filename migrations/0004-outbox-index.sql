-- 0004: the dispatcher's outbox query (queued tasks whose attempt was not sent yet) reads only
-- those rows, oldest first, instead of every queued task: with a large backlog each batch sorted
-- all of them (a 90,000-job backlog took 96 s to dispatch).
CREATE INDEX tasks_outbox ON tasks (created_at, id) WHERE state = 'queued' AND dispatched_attempt < attempt;
