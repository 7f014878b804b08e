// Port: the orchestrator's word to workers that a job was canceled. Workers never hear from
// feederd directly, so cancel travels like everything else: local = a SQLite table, aws = an S3
// marker object. Workers check it on their heartbeat.

export interface ControlChannel {
  cancel(jobId: string): Promise<void>;
  isCanceled(jobId: string): Promise<boolean>;
  /** Forget a cancel marker (after a retry re-queues the job). */
  clear(jobId: string): Promise<void>;
}
