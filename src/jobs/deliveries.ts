// How many times one attempt of a task may be delivered without finishing, in one place.
//
// A delivery is "unfinished" when its worker vanished (killed, OOM, lost instance) without
// acking or giving the lease back; a delivery given back on purpose (a worker shutting down) is
// not counted. Two limits follow from jobs.maxAttempts:
// - the worker that receives a delivery with workerDeliveryLimit unfinished ones before it fails
//   the task itself as WORKER_LOST (it is alive, so it can say why);
// - the queue dead-letters a message one delivery later (queueDeadLetterLimit): only a message
//   that kills every worker that touches it gets there, and feederd's watchdog applies it as
//   WORKER_LOST. The dead-letter limit must stay above the worker's, or the worker never sees the
//   last delivery and the job waits for the watchdog instead of failing at once.

export function workerDeliveryLimit(maxAttempts: number): number {
  return maxAttempts + 1;
}

export function queueDeadLetterLimit(maxAttempts: number): number {
  return workerDeliveryLimit(maxAttempts) + 1;
}

// On SQS a release cannot be told from a loss (a receive count only grows, and workers may not
// send to the jobs queue), so there the worker does not judge (Lease.unfinished is undefined): a
// message released or lost queueDeadLetterLimit times is dead-lettered, and feederd's watchdog
// gives the task a new attempt, or fails it as WORKER_LOST when none are left. On SQS, releases
// therefore cost an attempt per queueDeadLetterLimit of them, never the job at once.
