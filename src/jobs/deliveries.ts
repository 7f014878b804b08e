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
// send to the jobs queue), so there every earlier delivery counts. Releases happen when a worker
// shuts down: locally that is every feederd restart (workers are its children), which is why the
// local queue keeps them apart; EC2 workers live on through feederd restarts, so on aws only an
// instance stopped mid-task (spot, scale-in) spends a delivery.
