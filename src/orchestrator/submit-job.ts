// Creating a job, the use case: validate the request, resolve its presets, honour its idempotency
// key, plan chunks, stage files on aws, store it, and wake the outbox. api.ts only carries it
// over HTTP.
//
// Who resolves presets: feederd, here, with its own config — the job runs with what it says.
// `submit --dry-run` asks a running feederd for this same resolution (`dryRun: true`), so the
// commands it prints are the ones that will run; with no feederd running, the CLI resolves with
// the config file it would start feederd with (commands/submit.ts).
import { isAbsolute } from 'node:path';
import type * as z from 'zod';
import { createJobBody } from '../api/contract.js';
import { NommerError } from '../errors.js';
import { resolveOutputs } from '../jobspec.js';
import type { QualityGates, ResolvedPreset } from '../presets/schema.js';
import { isPackagePreset } from '../abr/ladder.js';
import { absoluteUri, hasScheme } from '../uri.js';
import type { ChunkDecision, ChunkPlanner } from '../tasks/planner.js';
import type { Estimate, MediaInfo } from '../cost/estimate.js';
import type { Staging } from './staging.js';
import type { Job, Store } from './store/index.js';

export interface JobCreatorDeps {
  store: Store;
  userPresets: Record<string, Record<string, unknown>>;
  defaultPreset: string;
  maxAttempts: number;
  /** After a job is created, so the outbox sends it at once. */
  onWork: () => void;
  /** aws backend: move local inputs/outputs through the bucket (see staging.ts). */
  stage?: Staging['stage'];
  /** Plans a chunked job's tasks (chunks + audio -> assemble), or says why not. */
  planChunks?: ChunkPlanner;
  /** URI prefixes no input or output may be under (aws: the bucket's staging, control and release prefixes). */
  reservedPrefixes?: string[];
  /** aws: the S3 locations inputs and outputs must be under (aws.allowedPrefixes, or the bucket). */
  allowedS3Prefixes?: string[];
  /** Config quality.measure: false turns measuring off for jobs that neither ask for it nor aim at a target. */
  qualityMeasure?: boolean;
  /** Config quality.gates: added to each measured video output's preset. */
  qualityGates?: QualityGates;
  /** What a worker slot costs now, kept in the job so its record can price its worker-seconds. */
  pricing?: { usdPerSlotHour: number; basis: string };
  /** What the job will take and cost (cost/estimate.ts); undefined when the input cannot be probed here. */
  estimate?: (
    input: string,
    outputs: ResolvedOutput[],
    request: { chunks?: number; chunked?: boolean; why?: string },
  ) => Promise<JobEstimate | undefined>;
}

export type JobEstimate = Estimate & { media: MediaInfo };

/** An output with its preset as feederd resolved it (checked then, carried typed from there on). */
export interface ResolvedOutput {
  preset: ResolvedPreset;
  uri: string;
}

export type CreateJobResult =
  | { dryRun: false; job: Job; created: boolean }
  | { dryRun: true; input: string; outputs: ResolvedOutput[]; estimate: Estimate | null };

/** A request that does not fit its schema, as one USAGE error naming every problem. */
export function validation(err: z.ZodError, what: string): NommerError {
  return new NommerError(
    'USAGE',
    `invalid ${what}: ${err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
  );
}

/** A request past its schema. */
type JobBody = z.output<ReturnType<typeof createJobBody>>;

export async function createJobFrom(deps: JobCreatorDeps, raw: unknown): Promise<CreateJobResult> {
  const r = createJobBody().safeParse(raw ?? {});
  if (!r.success) throw validation(r.error, 'job');
  const body = r.data;
  checkInput(body.input);
  const outputs = resolveJobOutputs(deps, body);
  if (body.dryRun) {
    // Planned as the job would be (chunks, a package's renditions) on the fleet's slots.
    const estimate = deps.estimate ? await deps.estimate(body.input, outputs, { chunked: body.chunked }) : undefined;
    return { dryRun: true, input: body.input, outputs, estimate: estimate ? publicEstimate(estimate) : null };
  }

  if (body.idempotencyKey) {
    const existing = deps.store.findByIdempotencyKey(body.idempotencyKey);
    if (existing) return { dryRun: false, job: existing, created: false };
  }
  // Planned before staging: feederd reads the input where the user put it.
  const chunking = deps.planChunks ? await deps.planChunks(body.input, outputs, body.chunked) : undefined;
  const estimate = await estimateWithinLimit(deps, body, outputs, chunking);
  const staged = deps.stage ? await deps.stage(body.input, outputs, { overwrite: body.force }) : undefined;
  const { job, created } = deps.store.createJob({
    input: staged?.input ?? body.input,
    outputs: staged?.outputs ?? outputs,
    priority: body.priority,
    maxAttempts: body.maxAttempts ?? deps.maxAttempts,
    notifyUrl: body.notifyUrl ?? null,
    idempotencyKey: body.idempotencyKey ?? null,
    options: {
      force: body.force,
      ...(deps.pricing ? { pricing: deps.pricing } : {}),
      ...(body.maxCostUsd !== undefined ? { maxCostUsd: body.maxCostUsd } : {}),
      ...(estimate ? { media: estimate.media, estimate: publicEstimate(estimate) } : {}),
      ...(staged ? { deliver: staged.deliver, cleanup: staged.cleanup, source: body.input } : {}),
      ...(chunking
        ? {
            chunking: chunking.tasks
              ? { chunked: true as const, ...chunking.summary }
              : { chunked: false as const, reason: chunking.reason },
          }
        : {}),
    },
    ...(chunking?.tasks ? { tasks: chunking.tasks } : {}),
  });
  if (created) deps.onWork();
  return { dryRun: false, job, created };
}

/** An input feederd can read: an absolute path (the CLI resolves relative ones) or a URI it fetches. */
function checkInput(input: string): void {
  const isUri = hasScheme(input);
  if (!isUri && !isAbsolute(input)) {
    throw new NommerError('USAGE', `input must be an absolute path or a URI, got ${JSON.stringify(input)}`, {
      hint: 'the CLI resolves relative paths for you',
    });
  }
  if (isUri && !/^(https?|s3|file):\/\//i.test(input)) {
    throw new NommerError('USAGE', `input scheme not supported: ${input.split(':')[0]}`, {
      hint: 'give a file path, file://, http(s):// or s3:// (aws backend)',
    });
  }
}

/** The outputs with their presets resolved by feederd's config, refused where they may not go. */
function resolveJobOutputs(deps: JobCreatorDeps, body: JobBody): ResolvedOutput[] {
  const outputs: ResolvedOutput[] = resolveOutputs({
    input: body.input,
    presets: body.outputs.map((o) => o.preset ?? deps.defaultPreset),
    outputs: body.outputs.map((o) => o.uri ?? ''),
    sets: body.set,
    userPresets: deps.userPresets,
    defaultPreset: deps.defaultPreset,
    gates: deps.qualityGates,
  }).map((o) => ({ preset: withMeasureDefault(o.preset, deps.qualityMeasure), uri: absoluteUri(o.uri) }));
  const pkg = outputs.find((o) => isPackagePreset(o.preset));
  if (pkg && deps.stage && !pkg.uri.startsWith('s3://'))
    throw new NommerError(
      'USAGE',
      `on the aws backend, a package (preset ${JSON.stringify(pkg.preset.name)}) is written to S3`,
      {
        hint: 'give -o s3://bucket/prefix/ for the package directory',
      },
    );
  checkS3Location(deps, body.input, 'input');
  for (const o of outputs) checkS3Location(deps, o.uri, 'output');
  return outputs;
}

/**
 * With a cost limit, the job's estimate, refused (BUDGET_EXCEEDED) when it is expected to pass
 * the limit, before anything is staged or queued. Without one, no estimate (undefined).
 */
async function estimateWithinLimit(
  deps: JobCreatorDeps,
  body: JobBody,
  outputs: ResolvedOutput[],
  chunking: ChunkDecision | undefined,
): Promise<JobEstimate | undefined> {
  if (body.maxCostUsd !== undefined && !(deps.pricing && deps.pricing.usdPerSlotHour > 0)) {
    throw new NommerError('USAGE', 'a cost limit needs a price for worker time, and none is set', {
      hint: 'set local.costPerHour ($/hour of a local worker slot), or aws.ec2.prices for the instance types',
    });
  }
  const estimate =
    body.maxCostUsd !== undefined && deps.estimate
      ? await deps.estimate(body.input, outputs, {
          chunked: body.chunked,
          // What the planner decided: its chunk count, or one piece (a package plans its own).
          ...(chunking?.tasks
            ? 'chunks' in chunking.summary
              ? { chunks: chunking.summary.chunks }
              : {}
            : chunking
              ? { chunks: 1, why: chunking.reason }
              : {}),
        })
      : undefined;
  if (body.maxCostUsd !== undefined && estimate && estimate.usd !== null && estimate.usd > body.maxCostUsd) {
    throw new NommerError(
      'BUDGET_EXCEEDED',
      `this job is estimated at $${estimate.usd.toFixed(4)} (${estimate.workerSeconds} worker-seconds), above its limit of $${body.maxCostUsd}`,
      { hint: `raise --max-cost, or choose a cheaper preset; estimate from ${estimate.basis}` },
    );
  }
  return estimate;
}

/**
 * An S3 input or output must be under an allowed prefix and never under one nommer keeps for
 * itself: staged media of other jobs, the fences workers obey, the release instances install.
 */
export function checkS3Location(
  deps: Pick<JobCreatorDeps, 'reservedPrefixes' | 'allowedS3Prefixes'>,
  raw: string,
  what: 'input' | 'output',
): void {
  // The scheme is case-blind (S3:// is s3://); keys are not.
  const uri = raw.replace(/^[a-z][a-z0-9+.-]*:/i, (m) => m.toLowerCase());
  if (!uri.startsWith('s3://')) return;
  const key = uri.slice('s3://'.length).split('/').slice(1);
  if (key.some((seg) => seg === '.' || seg === '..')) {
    throw new NommerError('USAGE', `${raw}: an S3 key with "." or ".." segments is refused`, {
      hint: 'write the key as it is stored, without dot segments',
    });
  }
  // Prefixes as path segments, whatever their slash: a package written to `s3://b/nommer-staging`
  // puts its files under `nommer-staging/`, and `nommer-stagingX/` is not staging.
  const asDir = (u: string) => (u.endsWith('/') ? u : `${u}/`);
  const reserved = (deps.reservedPrefixes ?? []).find((p) => asDir(uri).startsWith(asDir(p)));
  if (reserved) {
    throw new NommerError(
      'USAGE',
      `${raw} is under ${reserved}, which nommer keeps for itself (staging, fences, releases)`,
      { hint: `choose another prefix of the bucket for ${what}s` },
    );
  }
  const allowed = deps.allowedS3Prefixes;
  if (allowed && !allowed.some((p) => uri.startsWith(p))) {
    throw new NommerError('USAGE', `${what} ${raw} is outside the S3 locations jobs may use: ${allowed.join(', ')}`, {
      hint: 'use a location under one of them, or add it to aws.allowedPrefixes (and to the IAM policies `nommer setup aws` prints)',
    });
  }
}

function publicEstimate(e: JobEstimate): Estimate {
  return { seconds: e.seconds, workerSeconds: e.workerSeconds, usd: e.usd, basis: e.basis };
}

/** feederd's quality.measure for a preset that says nothing of measuring and has no target. */
function withMeasureDefault(p: ResolvedPreset, measure: boolean | undefined): ResolvedPreset {
  if (measure !== false) return p;
  const q = p.quality;
  if (q?.target !== undefined || q?.measure !== undefined) return p;
  return { ...p, quality: { ...(q ?? {}), measure: false } };
}
