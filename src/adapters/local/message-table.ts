// The local backend's message table (migrations/0001): named queues of messages that are leased
// by hiding them until a deadline. Shared by the task queue and the status channel. Each method
// is one statement or one IMMEDIATE transaction, so processes sharing the file never lease the
// same message twice.
import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export interface MessageRow {
  id: number;
  queue: string;
  body: string;
  priority: number;
  sent_at: number;
  visible_at: number;
  lease_token: string | null;
  receive_count: number;
  /** Deliveries given back on purpose (migration 0005). */
  released_count: number;
}

export interface DeadLetterRow {
  id: number;
  queue: string;
  message_id: number;
  body: string;
  priority: number;
  sent_at: number;
  receive_count: number;
  reason: string;
  dead_at: number;
}

export class MessageTable {
  private readonly s: Record<
    | 'send'
    | 'sweep'
    | 'sweepDelete'
    | 'claim'
    | 'extend'
    | 'ack'
    | 'ackAny'
    | 'exists'
    | 'release'
    | 'bury'
    | 'buryDelete'
    | 'depth'
    | 'next'
    | 'dead',
    Statement
  >;

  constructor(
    private readonly db: Db,
    readonly queue: string,
    private readonly now: () => number = Date.now,
  ) {
    this.s = {
      send: db.prepare(
        'INSERT INTO queue_messages (queue, body, priority, sent_at, visible_at) VALUES (@queue, @body, @priority, @now, @visibleAt)',
      ),
      // Messages received too often without an ack go to the dead letters before the next claim,
      // as an SQS redrive policy does, so a message that kills its workers cannot loop forever.
      sweep:
        db.prepare(`INSERT INTO queue_dead_letters (queue, message_id, body, priority, sent_at, receive_count, reason, dead_at)
        SELECT queue, id, body, priority, sent_at, receive_count,
          'received ' || (receive_count - released_count) || ' times without an ack (max ' || CAST(@max AS INTEGER) || ')', @now
        FROM queue_messages WHERE queue = @queue AND visible_at <= @now AND receive_count - released_count >= @max`),
      sweepDelete: db.prepare(
        'DELETE FROM queue_messages WHERE queue = @queue AND visible_at <= @now AND receive_count - released_count >= @max',
      ),
      claim:
        db.prepare(`UPDATE queue_messages SET visible_at = @until, lease_token = @token, receive_count = receive_count + 1
        WHERE id IN (SELECT id FROM queue_messages WHERE queue = @queue AND visible_at <= @now ORDER BY priority DESC, id LIMIT @n)
        RETURNING *`),
      extend: db.prepare('UPDATE queue_messages SET visible_at = @until WHERE id = @id AND lease_token = @token'),
      ack: db.prepare('DELETE FROM queue_messages WHERE id = @id AND lease_token = @token'),
      ackAny: db.prepare('DELETE FROM queue_messages WHERE id = @id'),
      exists: db.prepare('SELECT lease_token FROM queue_messages WHERE id = ?'),
      release:
        db.prepare(`UPDATE queue_messages SET visible_at = @until, lease_token = NULL, released_count = released_count + 1
        WHERE id = @id AND lease_token = @token`),
      bury: db.prepare(`INSERT INTO queue_dead_letters (queue, message_id, body, priority, sent_at, receive_count, reason, dead_at)
        SELECT queue, id, body, priority, sent_at, receive_count, @reason, @now FROM queue_messages WHERE id = @id AND lease_token = @token`),
      buryDelete: db.prepare('DELETE FROM queue_messages WHERE id = @id AND lease_token = @token'),
      // Two index-only counts (the second on the partial index of migration 0003): reading every
      // row to look at lease_token cost 140 ms with 100,000 queued tasks.
      depth: db.prepare(`SELECT (SELECT count(*) FROM queue_messages WHERE queue = @queue) AS total,
        (SELECT count(*) FROM queue_messages WHERE queue = @queue AND lease_token IS NOT NULL AND visible_at > @now) AS inFlight`),
      dead: db.prepare('SELECT * FROM queue_dead_letters WHERE queue = ? ORDER BY id LIMIT ?'),
      next: db.prepare('SELECT min(visible_at) AS at FROM queue_messages WHERE queue = ? AND visible_at > ?'),
    };
  }

  send(body: string, priority: number, delayMs: number): void {
    const now = this.now();
    this.s.send.run({ queue: this.queue, body, priority, now, visibleAt: now + Math.max(0, delayMs) });
  }

  /** Lease up to n visible messages for leaseMs, highest priority then oldest first. */
  claim(n: number, leaseMs: number, maxReceives: number | null): MessageRow[] {
    const run = this.db.transaction(() => {
      const now = this.now();
      if (maxReceives !== null) {
        this.s.sweep.run({ queue: this.queue, now, max: maxReceives });
        this.s.sweepDelete.run({ queue: this.queue, now, max: maxReceives });
      }
      const rows = this.s.claim.all({
        queue: this.queue,
        now,
        until: now + leaseMs,
        token: randomUUID(),
        n,
      }) as MessageRow[];
      // RETURNING does not promise an order.
      return rows.sort((a, b) => b.priority - a.priority || a.id - b.id);
    });
    // IMMEDIATE takes the write lock up front: two processes never both read the same candidate.
    return run.immediate();
  }

  /** False when the lease is no longer ours (the message was leased again, or is gone). */
  extend(id: number, token: string, leaseMs: number): boolean {
    return this.s.extend.run({ id, token, until: this.now() + leaseMs }).changes === 1;
  }

  /** 'deleted', 'gone' (already acked or dead-lettered), or 'taken' (leased by someone else). */
  ack(id: number, token: string | null): 'deleted' | 'gone' | 'taken' {
    const changes = token === null ? this.s.ackAny.run({ id }).changes : this.s.ack.run({ id, token }).changes;
    if (changes === 1) return 'deleted';
    return this.s.exists.get(id) === undefined ? 'gone' : 'taken';
  }

  release(id: number, token: string, delayMs: number): boolean {
    return this.s.release.run({ id, token, until: this.now() + Math.max(0, delayMs) }).changes === 1;
  }

  /** Move a leased message to the dead letters with a reason. */
  deadLetter(id: number, token: string, reason: string): boolean {
    const run = this.db.transaction(() => {
      const moved = this.s.bury.run({ id, token, reason, now: this.now() }).changes;
      if (moved === 1) this.s.buryDelete.run({ id, token });
      return moved === 1;
    });
    return run.immediate();
  }

  depth(): { waiting: number; inFlight: number } {
    const r = this.s.depth.get({ queue: this.queue, now: this.now() }) as { total: number; inFlight: number };
    return { waiting: r.total - r.inFlight, inFlight: r.inFlight };
  }

  /** Ms until the next hidden message (delayed, or leased) becomes visible; null when none is. */
  nextVisibleIn(): number | null {
    const now = this.now();
    const r = this.s.next.get(this.queue, now) as { at: number | null };
    return r.at === null ? null : r.at - now;
  }

  deadLetters(limit = 100): DeadLetterRow[] {
    return this.s.dead.all(this.queue, limit) as DeadLetterRow[];
  }

  /** Dead letters of this queue with an id above `afterId`, oldest first. */
  deadLettersAfter(afterId: number, limit: number): DeadLetterRow[] {
    return this.db
      .prepare('SELECT * FROM queue_dead_letters WHERE queue = ? AND id > ? ORDER BY id LIMIT ?')
      .all(this.queue, afterId, limit) as DeadLetterRow[];
  }

  /** Remove one dead letter (applied by the orchestrator). */
  removeDeadLetter(id: number): void {
    this.db.prepare('DELETE FROM queue_dead_letters WHERE id = ? AND queue = ?').run(id, this.queue);
  }
}
