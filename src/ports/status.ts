// Port: status events from workers to the orchestrator. Local: a SQLite table; aws: an SQS queue.
// At-least-once: the consumer applies events idempotently (job, attempt, seq).
import type { StatusEvent } from '../messages.js';

export interface ReceivedStatus {
  /** Parsed JSON body (validate it) */
  readonly body: unknown;
  ack(): Promise<void>;
}

export interface StatusChannel {
  publish(event: StatusEvent): Promise<void>;
  receive(opts: { max: number; waitSeconds: number; signal?: AbortSignal }): Promise<ReceivedStatus[]>;
}
