// What clients see of jobs: the API's shapes of a job, its events and its detail (the same in
// the API, `status --json` and SSE), with secrets redacted. Apart from api.ts so that `nommer
// status` without feederd (client/offline.ts) shows them without loading the HTTP server.
import { NommerError } from '../errors.js';
import { JOB_STATES, type JobState } from '../jobs/types.js';
import type { JobOutput } from '../jobs/state.js';
import type { JobDetailView, PublicEvent, PublicJob, PublicOutput } from '../api/contract.js';
import type { Job, JobDetail, JobEvent, Store } from './store/index.js';
import { redactDeep, redactText, redactUrl } from '../redact.js';

/** What clients see of a job (the same shape in the API, `status --json` and SSE). */
export function publicJob(j: Job | JobDetail): PublicJob {
  return {
    id: j.id,
    state: j.state,
    phase: j.phase,
    progress: j.progress,
    fps: j.fps,
    speed: j.speed,
    eta: j.eta,
    attempt: j.attempt,
    maxAttempts: j.maxAttempts,
    priority: j.priority,
    input: redactUrl(j.input),
    outputs: j.outputs.map((o) => publicOutput(o, j.options.deliver)),
    worker: j.worker,
    error: j.error ? { ...j.error, message: redactText(j.error.message) } : null,
    notifyUrl: j.notifyUrl === null ? null : redactUrl(j.notifyUrl),
    createdAt: new Date(j.createdAt).toISOString(),
    startedAt: j.startedAt ? new Date(j.startedAt).toISOString() : null,
    finishedAt: j.finishedAt ? new Date(j.finishedAt).toISOString() : null,
    // What the job cost, once the job record carries it (issue 15).
    ...(j.cost ? { cost: j.cost } : {}),
  };
}

/** An output: its preset's name, and what the worker reported about it when it did. */
function publicOutput(o: JobOutput, deliver: Job['options']['deliver']): PublicOutput {
  return {
    preset: o.preset.name,
    // aws: a local output is staged in the bucket; clients see the path it is delivered to.
    uri: redactUrl(deliver?.find((d) => d.from === o.uri)?.to ?? o.uri),
    ...(o.bytes !== undefined ? { bytes: o.bytes } : {}),
    ...(o.quality ? { quality: o.quality } : {}),
    ...(o.package ? { package: o.package } : {}),
    ...(o.loudness ? { loudness: o.loudness } : {}),
  };
}

export function publicEvent(e: JobEvent): PublicEvent {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    type: e.type,
    state: e.state,
    phase: e.phase,
    attempt: e.attempt,
    message: redactText(e.message),
    data: e.data === null ? null : redactDeep(e.data),
  };
}

/** A job in full: with its tasks and its event history (GET /v1/jobs/:id, `status ID`). */
export function publicJobDetail(store: Store, j: JobDetail): JobDetailView {
  const chunking = j.options.chunking;
  const plan = chunking && 'plan' in chunking ? chunking.plan : undefined;
  return {
    job: { ...publicJob(j), ...(plan ? { chunks: plan } : {}) },
    tasks: j.tasks.map((t) => ({
      id: t.id,
      type: t.type,
      state: t.state,
      phase: t.phase,
      attempt: t.attempt,
      progress: t.progress,
      worker: t.worker,
      error: t.error,
    })),
    events: store.listJobEvents(j.id, { limit: 1000 }).map(publicEvent),
    ...deliveryOf(store, j),
  };
}

/**
 * aws: where a job's local outputs are on their way back from the staging prefix (staging.ts):
 * waiting for the job, pending, delivered, or failed with the reason (the outputs kept in the bucket).
 */
function deliveryOf(store: Store, j: JobDetail): Pick<JobDetailView, 'delivery'> {
  if (!j.options.deliver?.length) return {};
  const rec = store.deliveryOf(j.id);
  const due = j.state === 'succeeded' || j.phase === 'delivering';
  const state = rec ? (rec.error ? 'failed' : 'delivered') : due ? 'pending' : 'waiting';
  return {
    delivery: {
      state,
      to: j.options.deliver.map((d) => d.to),
      ...(rec ? { at: new Date(rec.at).toISOString() } : {}),
      ...(rec?.error ? { error: redactText(rec.error) } : {}),
    },
  };
}

/** A `state` query (comma-separated) checked against the job states. */
export function parseStates(value: string | undefined): JobState[] | undefined {
  if (!value) return undefined;
  const state = value.split(',') as JobState[];
  const bad = state.filter((s) => !(JOB_STATES as readonly string[]).includes(s));
  if (bad.length)
    throw new NommerError('USAGE', `unknown state "${bad[0]}"`, { hint: `states: ${JOB_STATES.join(', ')}` });
  return state;
}
