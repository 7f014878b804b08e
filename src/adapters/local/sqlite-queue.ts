// JobQueue on a table of the local SQLite database. Workers are other processes opening the same
// file (WAL); a lease hides the message until a deadline, and an expired lease makes it visible
// again with receive_count + 1, as an SQS visibility timeout does. Messages received maxReceives
// times without an ack are moved to the dead letters on the next receive.
//
// Priority: TaskMessage has no priority field, so it is a send option (`send(task, {priority})`),
// defaulting to the constructor's `defaultPriority` (0). Higher goes first; ties go oldest first.
import { NommerError } from '../../errors.js';
import type { TaskMessage } from '../../messages.js';
import type { DeadLetter, JobQueue, Lease } from '../../ports/queue.js';
import type { Db } from './db.js';
import { MessageTable, type DeadLetterRow } from './message-table.js';
import { decodeBody } from '../../messages.js';
import { lookUntil, type WaitOptions, type WaitSettings, waitSettings } from './db-wake.js';
import { asQueueError } from './queue-errors.js';

export interface SqliteQueueOptions extends WaitOptions {
  /** Queue name inside the table (default 'tasks'). */
  queue?: string;
  /** Receives without an ack before a message is dead-lettered (default 5; null: never). */
  maxReceives?: number | null;
  /** Priority of messages sent without one (default 0). */
  defaultPriority?: number;
  /** Clock for lease deadlines (tests); waiting always uses real time. */
  now?: () => number;
}

export interface SendOptions {
  priority?: number;
  delaySeconds?: number;
}

export class SqliteJobQueue implements JobQueue {
  private readonly table: MessageTable;
  private readonly maxReceives: number | null;
  private readonly waiting: WaitSettings;
  private readonly defaultPriority: number;
  private readonly db: Db;

  constructor(db: Db, opts: SqliteQueueOptions = {}) {
    const maxReceives = opts.maxReceives === undefined ? 5 : opts.maxReceives;
    if (maxReceives !== null && (!Number.isInteger(maxReceives) || maxReceives < 1))
      throw new NommerError(
        'CONFIG_INVALID',
        `queue maxReceives must be a whole number >= 1 or null, not ${maxReceives}`,
      );
    this.waiting = waitSettings(db, opts, 'queue');
    this.table = new MessageTable(db, opts.queue ?? 'tasks', opts.now);
    this.maxReceives = maxReceives;
    this.defaultPriority = opts.defaultPriority ?? 0;
    this.db = db;
  }

  async send(task: TaskMessage, opts: SendOptions = {}): Promise<void> {
    try {
      this.table.send(
        JSON.stringify(task),
        Math.trunc(opts.priority ?? this.defaultPriority),
        (opts.delaySeconds ?? 0) * 1000,
      );
      this.waiting.wake.notify();
    } catch (err) {
      throw asQueueError(err, 'send a task');
    }
  }

  /** All in one transaction: a burst of submissions costs one commit, not one per task. */
  async sendBatch(items: Array<{ task: TaskMessage; priority?: number }>): Promise<void> {
    try {
      this.db.transaction(() => {
        for (const { task, priority } of items)
          this.table.send(JSON.stringify(task), Math.trunc(priority ?? this.defaultPriority), 0);
      })();
      this.waiting.wake.notify();
    } catch (err) {
      throw asQueueError(err, 'send tasks');
    }
  }

  /** Resolves null when nothing arrived within waitSeconds or the signal aborted. */
  async receive(opts: { waitSeconds: number; leaseSeconds: number; signal?: AbortSignal }): Promise<Lease | null> {
    const leaseMs = opts.leaseSeconds * 1000;
    if (!(leaseMs > 0)) throw new NommerError('USAGE', `leaseSeconds must be > 0, not ${opts.leaseSeconds}`);
    try {
      const row = await lookUntil(
        this.waiting,
        opts,
        () => this.table.claim(1, leaseMs, this.maxReceives)[0] ?? null,
        () => this.table.nextVisibleIn(),
      );
      return row && this.lease(row.id, row.lease_token!, row.body, row.receive_count, row.released_count);
    } catch (err) {
      throw asQueueError(err, 'receive a task');
    }
  }

  async depth(): Promise<{ waiting: number; inFlight: number }> {
    try {
      return this.table.depth();
    } catch (err) {
      throw asQueueError(err, 'count the queue');
    }
  }

  /** Dead-lettered messages of this queue, oldest first (for `doctor` and tests). */
  deadLetters(limit = 100): DeadLetterRow[] {
    return this.table.deadLetters(limit);
  }

  async takeDeadLetters(max: number, opts: { after?: string } = {}): Promise<DeadLetter[]> {
    let rows: DeadLetterRow[];
    try {
      rows = this.table.deadLettersAfter(Number(opts.after ?? 0) || 0, Math.max(1, Math.trunc(max)));
    } catch (err) {
      throw asQueueError(err, 'read dead letters');
    }
    return rows.map((r) => ({
      key: String(r.id),
      body: decodeBody(r.body),
      reason: r.reason,
      remove: async () => {
        try {
          this.table.removeDeadLetter(r.id);
        } catch (err) {
          throw asQueueError(err, 'remove a dead letter');
        }
      },
    }));
  }

  private lease(id: number, token: string, body: string, receiveCount: number, released: number): Lease {
    const table = this.table;
    const lost = (what: string) =>
      new NommerError('LEASE_LOST', `cannot ${what} message ${id}: the lease expired and it was leased again`, {
        hint: 'extend the lease more often than it expires',
      });
    return {
      body: decodeBody(body),
      receiveCount,
      unfinished: receiveCount - 1 - released,
      async extend(seconds: number) {
        let ok;
        try {
          ok = table.extend(id, token, seconds * 1000);
        } catch (err) {
          throw asQueueError(err, 'extend a lease');
        }
        if (!ok) throw lost('extend');
      },
      async ack() {
        let r;
        try {
          r = table.ack(id, token);
        } catch (err) {
          throw asQueueError(err, 'ack a message');
        }
        // 'gone' is a second ack of the same lease: done already, nothing to report.
        if (r === 'taken') throw lost('ack');
      },
      async release(delaySeconds = 0) {
        let ok;
        try {
          ok = table.release(id, token, delaySeconds * 1000);
        } catch (err) {
          throw asQueueError(err, 'release a message');
        }
        if (!ok) throw lost('release');
      },
      async reject(reason: string) {
        let ok;
        try {
          ok = table.deadLetter(id, token, reason);
        } catch (err) {
          throw asQueueError(err, 'dead-letter a message');
        }
        if (!ok) throw lost('reject');
      },
    };
  }
}
