// Port: the orchestrator's word to workers that attempts of a job's tasks are void (the job was
// canceled or failed, or one task was given a new attempt because its worker went silent).
// Workers never hear from feederd directly, so this travels like everything else: local = a
// SQLite table, aws = an S3 object per job. Workers check it on their heartbeat, before they
// start and right before they commit outputs, so a void attempt writes nothing.

export interface ControlChannel {
  /** Void every attempt up to `upTo` of the job's tasks (or of one task). Only ever raises. */
  fence(jobId: string, upTo: number, taskId?: string): Promise<void>;
  /** The highest void attempt for this task (job-wide or its own); 0 when none. */
  fencedUpTo(jobId: string, taskId: string): Promise<number>;
}
