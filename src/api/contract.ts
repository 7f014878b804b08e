// feederd's HTTP contract, one schema per body, response and server-sent event of every /v1 route.
// The server builds its answers as these types (orchestrator/api.ts, job-stream.ts,
// dashboard-routes.ts); the CLI's client parses what comes back with them (client/api-client.ts);
// the TUI and the dashboard read the same types; GET /v1/openapi.json is generated from them
// (api/openapi.ts). Objects are not strict on the reading side: a field a newer feederd adds is
// dropped by an older client, never an error.
import * as z from 'zod';
import { JOB_STATES, PHASES } from '../jobs/types.js';
import { JOB_EVENT_TYPES, TASK_STATES } from '../jobs/state.js';
import { packageInfo } from '../abr/types.js';
import { outputLoudnessSchema, outputQualitySchema } from '../jobs/outputs.js';
import { resolvedPresetSchema } from '../presets/schema.js';
import { lazySchema } from '../lazy-schema.js';

// --- errors -------------------------------------------------------------------------------------

export const errorInfo = lazySchema(() =>
  z.object({
    code: z.string(),
    message: z.string(),
    retriable: z.boolean(),
    hint: z.string().optional(),
  }),
);
/** Every error answer: 4xx and 5xx. */
export const errorBody = lazySchema(() => z.object({ error: errorInfo() }).meta({ id: 'Error' }));
export type ErrorBody = z.infer<ReturnType<typeof errorBody>>;

// --- a job --------------------------------------------------------------------------------------

/**
 * An output's quality (its scores, the frames measured, the CRF search of a target, what it kept of
 * HDR...) in the job record's own schema (jobs/outputs.ts): the contract carries every field the
 * record has, and like the rest of the contract drops one a newer feederd adds.
 */
export const outputQuality = lazySchema(() => z.object(outputQualitySchema.shape).meta({ id: 'OutputQuality' }));

export const publicOutput = lazySchema(() =>
  z.object({
    /** The preset's name. */
    preset: z.string(),
    uri: z.string(),
    /** Size once uploaded. */
    bytes: z.number().optional(),
    quality: outputQuality().optional(),
    /** An adaptive-streaming package's renditions, manifests and extras. */
    package: packageInfo.meta({ id: 'PackageInfo' }).optional(),
    /** Its loudness, input and output (measured on the output), when its preset normalizes it. */
    loudness: outputLoudnessSchema.meta({ id: 'OutputLoudness' }).optional(),
  }),
);
export type PublicOutput = z.infer<ReturnType<typeof publicOutput>>;

export const jobCost = lazySchema(() =>
  z
    .object({
      workerSeconds: z.number(),
      usd: z.number().nullable(),
      perOutputMinute: z.number().nullable(),
      outputMinutes: z.number().nullable(),
      hdOutputMinutes: z.number().nullable(),
      basis: z.string(),
    })
    .meta({ id: 'JobCost' }),
);
export type JobCostView = z.infer<ReturnType<typeof jobCost>>;

const isoTime = lazySchema(() => z.string().describe('ISO 8601 time'));

/** What clients see of a job: the same shape in the API, `status --json`, SSE and webhooks. */
export const publicJob = lazySchema(() =>
  z
    .object({
      id: z.string(),
      state: z.enum(JOB_STATES),
      phase: z.enum(PHASES).nullable(),
      progress: z.number(),
      fps: z.number().nullable(),
      speed: z.number().nullable(),
      eta: z.number().nullable(),
      attempt: z.number().int(),
      maxAttempts: z.number().int(),
      priority: z.number().int(),
      input: z.string(),
      outputs: z.array(publicOutput()),
      worker: z.string().nullable(),
      error: z.object({ code: z.string(), message: z.string(), retriable: z.boolean() }).nullable(),
      notifyUrl: z.string().nullable(),
      createdAt: isoTime(),
      startedAt: isoTime().nullable(),
      finishedAt: isoTime().nullable(),
      cost: jobCost().optional(),
    })
    .meta({ id: 'Job' }),
);
export type PublicJob = z.infer<ReturnType<typeof publicJob>>;

export const publicEvent = lazySchema(() =>
  z
    .object({
      /** Stored events have an increasing id; progress ticks have null. */
      id: z.number().int().nullable(),
      at: isoTime(),
      type: z.enum(JOB_EVENT_TYPES),
      state: z.enum(JOB_STATES),
      phase: z.string().nullable(),
      attempt: z.number().int(),
      message: z.string(),
      data: z.record(z.string(), z.unknown()).nullable(),
    })
    .meta({ id: 'JobEvent' }),
);
export type PublicEvent = z.infer<ReturnType<typeof publicEvent>>;

export const publicTask = lazySchema(() =>
  z.object({
    id: z.string(),
    type: z.string(),
    state: z.enum(TASK_STATES),
    phase: z.enum(PHASES).nullable(),
    attempt: z.number().int(),
    progress: z.number(),
    worker: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string(), retriable: z.boolean() }).nullable(),
  }),
);

/** aws: where a job's local outputs are on their way back from the staging prefix. */
export const jobDelivery = lazySchema(() =>
  z.object({
    state: z.enum(['waiting', 'pending', 'delivered', 'failed']),
    to: z.array(z.string()),
    at: isoTime().optional(),
    error: z.string().optional(),
  }),
);

// --- route bodies and answers -------------------------------------------------------------------

export const health = lazySchema(() => z.object({ ok: z.boolean(), version: z.string(), backend: z.string() }));
export type Health = z.infer<ReturnType<typeof health>>;

/** POST /v1/jobs. */
export const createJobBody = lazySchema(() =>
  z
    .strictObject({
      input: z.string().min(1).max(4096),
      outputs: z
        .array(
          z.strictObject({ preset: z.string().min(1).max(64).optional(), uri: z.string().min(1).max(4096).optional() }),
        )
        .max(16)
        .default([]),
      set: z.array(z.string().max(200)).max(50).default([]),
      priority: z.number().int().min(-1000).max(1000).default(0),
      notifyUrl: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .optional(),
      idempotencyKey: z.string().min(1).max(200).optional(),
      force: z.boolean().default(false),
      maxAttempts: z.number().int().min(1).max(20).optional(),
      /** Split into chunks encoded in parallel (true), never (false), or as config says (absent). */
      chunked: z.boolean().optional(),
      /** Resolve and answer the outputs (presets as they would run); create nothing. */
      dryRun: z.boolean().default(false),
      /** The most this job may cost ($): refused when the estimate is above it, stopped when its cost passes it. */
      maxCostUsd: z.number().positive().max(1_000_000).optional(),
    })
    .meta({ id: 'CreateJob' }),
);
/** What a client sends (defaults filled in by the server). */
export type CreateJobBody = z.input<ReturnType<typeof createJobBody>>;

export const created = lazySchema(() => z.object({ job: publicJob(), created: z.boolean() }));
export type Created = z.infer<ReturnType<typeof created>>;

export const estimate = lazySchema(() =>
  z.object({
    seconds: z.number(),
    workerSeconds: z.number(),
    usd: z.number().nullable(),
    basis: z.string(),
  }),
);
export type EstimateView = z.infer<ReturnType<typeof estimate>>;

/** POST /v1/jobs with dryRun: the outputs as feederd resolved them, and what the job would take. */
export const dryRun = lazySchema(() =>
  z.object({
    dryRun: z.literal(true),
    input: z.string(),
    outputs: z.array(
      z.object({
        /** The resolved preset as workers receive it, checked here as the client reads the answer. */
        preset: resolvedPresetSchema(),
        uri: z.string(),
      }),
    ),
    estimate: estimate().nullable(),
  }),
);
export type DryRunView = z.infer<ReturnType<typeof dryRun>>;

export const listJobsQuery = lazySchema(() =>
  z.object({
    /** One or several states, comma-separated. */
    state: z.string().optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(50),
    cursor: z.string().max(200).optional(),
  }),
);
export const eventsQuery = lazySchema(() => z.object({ limit: listJobsQuery().shape.limit }));

export const jobPage = lazySchema(() => z.object({ jobs: z.array(publicJob()), nextCursor: z.string().nullable() }));
export type JobPage = z.infer<ReturnType<typeof jobPage>>;

/** A chunked job's plan, chunk by chunk: where it starts (seconds, source timeline), its frames,
 * and whether it starts on a detected scene cut. */
export const publicChunk = lazySchema(() =>
  z.object({ start: z.number(), frames: z.number().int(), sceneCut: z.boolean() }),
);

export const jobDetail = lazySchema(() =>
  z.object({
    job: publicJob().extend({ chunks: z.array(publicChunk()).optional() }),
    tasks: z.array(publicTask()),
    events: z.array(publicEvent()),
    delivery: jobDelivery().optional(),
  }),
);
export type JobDetailView = z.infer<ReturnType<typeof jobDetail>>;

/** Cancel and retry answer the job as it is now. */
export const jobAnswer = lazySchema(() => z.object({ job: publicJob() }));
export type JobAnswer = z.infer<ReturnType<typeof jobAnswer>>;

export const presetList = lazySchema(() =>
  z.object({
    defaultPreset: z.string(),
    presets: z.array(z.object({ name: z.string(), description: z.string(), extension: z.string() })),
  }),
);
export type PresetList = z.infer<ReturnType<typeof presetList>>;

export const fleetWorker = lazySchema(() =>
  z.object({
    id: z.string(),
    state: z.string(),
    busy: z.boolean().optional(),
    kind: z.string().optional(),
    instanceType: z.string().optional(),
    spot: z.boolean().optional(),
    launchedAt: isoTime().optional(),
  }),
);

export const summary = lazySchema(() =>
  z
    .object({
      jobs: z.object({
        total: z.number().int(),
        byState: z.partialRecord(z.enum(JOB_STATES), z.number().int()),
      }),
      /** Queue depth; -1 when the queue cannot be asked. */
      queue: z.object({ waiting: z.number(), inFlight: z.number() }),
      fleet: z.array(fleetWorker()),
      /** EC2 fleets: what the instances have cost so far (an estimate from aws.ec2.prices). */
      spend: z.object({ usd: z.number(), upperBound: z.boolean(), unpriced: z.array(z.string()) }).optional(),
      /** The autoscaler launched fewer than the backlog wanted: which limit held the queue back. */
      heldBack: z.object({ by: z.enum(['maxInstances', 'maxHourlySpend']), reason: z.string() }).optional(),
    })
    .meta({ id: 'Summary' }),
);
export type Summary = z.infer<ReturnType<typeof summary>>;

export const loginCode = lazySchema(() => z.object({ code: z.string(), path: z.string(), expiresAt: isoTime() }));
export type LoginCode = z.infer<ReturnType<typeof loginCode>>;
export const ok = lazySchema(() => z.object({ ok: z.literal(true) }));
export type Ok = z.infer<ReturnType<typeof ok>>;

// --- watches (issue 28) ---------------------------------------------------------------------------

/** POST /v1/watches: every whole file that arrives under `source` becomes a job with these outputs.
 * The store keeps the request as checked (orchestrator/store/watch-rows.ts). */
export const createWatchBody = lazySchema(() =>
  z
    .strictObject({
      /** An absolute folder path, or (aws backend) s3://bucket/prefix/. */
      source: z.string().min(1).max(4096),
      presets: z.array(z.string().min(1).max(64)).min(1).max(16),
      /** Where outputs go (a folder, or s3://bucket/prefix/), at each input's path relative to `source`. */
      dest: z.string().min(1).max(4096),
      set: z.array(z.string().max(200)).max(50).default([]),
      recursive: z.boolean().default(false),
      /** A glob on the file name (or on the relative path when it holds a `/`). */
      pattern: z.string().min(1).max(200).optional(),
    })
    .meta({ id: 'CreateWatch' }),
);
/** What a client sends (defaults filled in by the server). */
export type CreateWatchBody = z.input<ReturnType<typeof createWatchBody>>;

export const publicWatch = lazySchema(() =>
  z
    .object({
      id: z.string(),
      source: z.string(),
      presets: z.array(z.string()),
      dest: z.string(),
      set: z.array(z.string()),
      recursive: z.boolean(),
      pattern: z.string().nullable(),
      /** What feederd last found at the source: `error` with the reason (e.g. `folder missing`). */
      state: z.enum(['ok', 'error']),
      error: z.string().nullable(),
      /** Files (or object versions) this watch has made jobs of. */
      files: z.number().int(),
      createdAt: isoTime(),
    })
    .meta({ id: 'Watch' }),
);
export type PublicWatch = z.infer<ReturnType<typeof publicWatch>>;

/** POST /v1/watches (201) and DELETE /v1/watches/{id} (200): the watch. */
export const watchAnswer = lazySchema(() => z.object({ watch: publicWatch() }));
export type WatchAnswer = z.infer<ReturnType<typeof watchAnswer>>;
/** GET /v1/watches */
export const watchList = lazySchema(() => z.object({ watches: z.array(publicWatch()) }));
export type WatchList = z.infer<ReturnType<typeof watchList>>;

// --- server-sent events -------------------------------------------------------------------------

/** `job`: a change of the job (or of any job, on GET /v1/events), with the event that made it. */
export const jobChange = lazySchema(() => z.object({ job: publicJob(), event: publicEvent() }));
/** GET /v1/jobs/{id}/events: `snapshot` after the history, `end` once the job is final. */
export const jobSnapshot = lazySchema(() => z.object({ job: publicJob() }));
/** GET /v1/events: `snapshot` of the newest jobs first. */
export const jobsSnapshot = lazySchema(() => z.object({ jobs: z.array(publicJob()) }));

/** One job's stream, by event name. */
export const jobStreamEvents = lazySchema(
  () => ({ job: jobChange(), snapshot: jobSnapshot(), end: jobSnapshot() }) as const,
);
/** Every job's stream, by event name. */
export const allJobsStreamEvents = lazySchema(() => ({ job: jobChange(), snapshot: jobsSnapshot() }) as const);

export type JobStreamMessage =
  | { type: 'job'; data: z.infer<ReturnType<typeof jobChange>> }
  | { type: 'snapshot' | 'end'; data: z.infer<ReturnType<typeof jobSnapshot>> };

/** A message of one job's stream, parsed by its event name; null for a name this client does not know. */
export function parseJobStreamMessage(type: string, data: unknown): JobStreamMessage | null {
  if (type === 'job') return { type, data: jobChange().parse(data) };
  if (type === 'snapshot' || type === 'end') return { type, data: jobSnapshot().parse(data) };
  return null;
}
