// Port: status events from workers to the orchestrator. Local: a SQLite table; aws: an SQS queue.
// At-least-once: the consumer applies events idempotently (job, attempt, seq), and settles each
// received event one of three ways: ack (applied, or deliberately refused), release (not applied
// this time: deliver it again), or deadLetter (it can never be applied: keep it aside, with why).
import type { StatusEvent } from '../messages.js';

export interface ReceivedStatus {
  /** Parsed JSON body (validate it) */
  readonly body: unknown;
  /** How many times this event has been received, this time included (1 on first delivery). */
  readonly receiveCount: number;
  /** Done with it: remove it for good. */
  ack(): Promise<void>;
  /** Not applied: make it visible again after `delaySeconds` (default 0) rather than after the
   * visibility timeout. Best effort: if this fails, the timeout brings it back anyway. */
  release(delaySeconds?: number): Promise<void>;
  /** Move it to the dead letters with a reason (malformed, or poison: it kept failing). */
  deadLetter(reason: string): Promise<void>;
}

export interface StatusChannel {
  publish(event: StatusEvent): Promise<void>;
  receive(opts: { max: number; waitSeconds: number; signal?: AbortSignal }): Promise<ReceivedStatus[]>;
}
