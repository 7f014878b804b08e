// StatusChannel on a table of the local SQLite database (worker -> orchestrator). At-least-once:
// a received event stays hidden for visibilitySeconds and comes back unless acked, so an
// orchestrator that dies mid-batch sees it again and applies it idempotently. Each delivery
// counts (receive_count), so the consumer can tell a poison event from a first try; release and
// deadLetter act on this delivery's lease, ack deletes by id (see below).
import { NommerError } from '../../errors.js';
import type { StatusEvent } from '../../messages.js';
import type { ReceivedStatus, StatusChannel } from '../../ports/status.js';
import type { Db } from './db.js';
import { MessageTable, type DeadLetterRow, type MessageRow } from './message-table.js';
import { decodeBody } from '../../messages.js';
import { lookUntil, type WaitOptions, type WaitSettings, waitSettings } from './db-wake.js';
import { asQueueError } from './queue-errors.js';

export interface SqliteStatusOptions extends WaitOptions {
  /** Queue name inside the table (default 'status'). */
  queue?: string;
  /** How long a received, unacked event stays hidden (default 30). */
  visibilitySeconds?: number;
  now?: () => number;
}

export class SqliteStatusChannel implements StatusChannel {
  private readonly table: MessageTable;
  private readonly visibilityMs: number;
  private readonly waiting: WaitSettings;

  constructor(db: Db, opts: SqliteStatusOptions = {}) {
    this.visibilityMs = (opts.visibilitySeconds ?? 30) * 1000;
    if (!(this.visibilityMs > 0))
      throw new NommerError('CONFIG_INVALID', `status visibilitySeconds must be > 0, not ${opts.visibilitySeconds}`);
    this.waiting = waitSettings(db, opts, 'status');
    this.table = new MessageTable(db, opts.queue ?? 'status', opts.now);
  }

  async publish(event: StatusEvent): Promise<void> {
    try {
      this.table.send(JSON.stringify(event), 0, 0);
      this.waiting.wake.notify();
    } catch (err) {
      throw asQueueError(err, 'publish a status event');
    }
  }

  /** Up to `max` events in the order they were published; [] after waitSeconds or on abort. */
  async receive(opts: { max: number; waitSeconds: number; signal?: AbortSignal }): Promise<ReceivedStatus[]> {
    const max = Math.max(1, Math.trunc(opts.max));
    let rows;
    try {
      rows = await lookUntil(
        this.waiting,
        opts,
        () => {
          // No maxReceives sweep here: whether an event that keeps coming back is poison is the
          // consumer's call (it knows whether applying it threw), made with receiveCount.
          const got = this.table.claim(max, this.visibilityMs, null);
          return got.length ? got : null;
        },
        () => this.table.nextVisibleIn(),
      );
    } catch (err) {
      throw asQueueError(err, 'receive status events');
    }
    return rows ? rows.map((r) => this.received(r)) : [];
  }

  async depth(): Promise<{ waiting: number; inFlight: number }> {
    try {
      return this.table.depth();
    } catch (err) {
      throw asQueueError(err, 'count status events');
    }
  }

  /** Dead-lettered events, oldest first (for `doctor` and tests). */
  deadLetters(limit = 100): DeadLetterRow[] {
    return this.table.deadLetters(limit);
  }

  private received(r: MessageRow): ReceivedStatus {
    const table = this.table;
    const token = r.lease_token!;
    return {
      body: decodeBody(r.body),
      receiveCount: r.receive_count,
      // Deleting by id alone: if the event was redelivered meanwhile, applying it twice is
      // harmless (idempotent on task, attempt, seq), and it is done either way.
      async ack() {
        try {
          table.ack(r.id, null);
        } catch (err) {
          throw asQueueError(err, 'ack a status event');
        }
      },
      // By lease: once the lease ran out the event is visible (or in a newer delivery's hands)
      // already, and there is nothing of ours left to give back.
      async release(delaySeconds = 0) {
        try {
          table.release(r.id, token, delaySeconds * 1000);
        } catch (err) {
          throw asQueueError(err, 'release a status event');
        }
      },
      async deadLetter(reason: string) {
        let moved;
        try {
          moved = table.deadLetter(r.id, token, reason);
        } catch (err) {
          throw asQueueError(err, 'dead-letter a status event');
        }
        // Not silently: the event will be received again and judged again, with a higher count.
        if (!moved) {
          throw new NommerError(
            'QUEUE_FAILED',
            `cannot dead-letter status event ${r.id}: its lease ran out and it was received again (or acked)`,
          );
        }
      },
    };
  }
}
