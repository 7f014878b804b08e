-- 0003: counting leased (in-flight) messages without reading every row: `nommer status` asks
-- for the queue depth, which read all 100,000 rows of a large backlog (140 ms) without this.
CREATE INDEX queue_messages_leased ON queue_messages (queue, visible_at) WHERE lease_token IS NOT NULL;
