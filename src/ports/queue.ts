// Port: the queue of tasks that workers lease. Local adapter: a SQLite table with leases;
// aws adapter: an SQS queue (visibility timeout = lease) with a dead-letter queue.
import type { TaskMessage } from '../messages.js';

export interface Lease {
  /** The message body, parsed from JSON when it is JSON, else the raw string; validate it. */
  readonly body: unknown;
  /** Deliveries of this message so far, this one included (1 on first delivery); never reused. */
  readonly receiveCount: number;
  /**
   * Earlier deliveries that ended without an ack (their worker vanished). Locally a release is not
   * one; SQS cannot tell them apart and counts every earlier delivery (jobs/deliveries.ts).
   */
  readonly unfinished: number;
  /** Keep the lease for `seconds` more from now (heartbeat). */
  extend(seconds: number): Promise<void>;
  /** Done: remove the message for good. */
  ack(): Promise<void>;
  /** Give it back on purpose: visible again after `delaySeconds` (default 0); not an unfinished delivery. */
  release(delaySeconds?: number): Promise<void>;
  /** Move it aside (dead-letter) with a reason: for malformed messages. */
  reject(reason: string): Promise<void>;
}

export interface DeadLetter {
  /** Names it among the queue's dead letters (locally increasing, so a reader can page on). */
  readonly key: string;
  /** Parsed like Lease.body. */
  readonly body: unknown;
  readonly reason: string;
  remove(): Promise<void>;
}

export interface JobQueue {
  /** Higher priority is received first where the queue supports it (local; SQS has no priorities). */
  send(task: TaskMessage, opts?: { priority?: number }): Promise<void>;
  /** Send several at once (one transaction locally); optional. */
  sendBatch?(items: Array<{ task: TaskMessage; priority?: number }>): Promise<void>;
  /** Long-poll up to waitSeconds for one message; lease it for leaseSeconds. */
  receive(opts: { waitSeconds: number; leaseSeconds: number; signal?: AbortSignal }): Promise<Lease | null>;
  /**
   * Up to `max` dead-lettered messages for the orchestrator to apply (feederd's watchdog), after
   * the one keyed `after` where the queue keeps an order (locally); each is gone once removed.
   * Those not removed stay as evidence (`nommer prune` removes old ones).
   */
  takeDeadLetters?(max: number, opts?: { after?: string }): Promise<DeadLetter[]>;
  /** Messages waiting (approximate on SQS). */
  depth(): Promise<{ waiting: number; inFlight: number }>;
}
