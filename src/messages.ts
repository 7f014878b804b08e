// The versioned message schema between the orchestrator and workers. This is the only thing
// they share besides the ports: a worker on another machine needs nothing else to do a task,
// and the orchestrator learns everything from status events. Validated on receipt.
import * as z from 'zod';
import { TASK_PHASES } from './jobs/types.js';
import { TASK_KINDS, TASK_PARAMS } from './tasks/params.js';
import { resolvedPresetSchema } from './presets/schema.js';
import { lazySchema } from './lazy-schema.js';

/**
 * 2: a task's `type` is its kind (tasks/params.ts), no longer encode/chunk/assemble with the kind
 * inside params. A v1 worker leaves v2 tasks alone (and the other way round). Status events kept
 * their shape: both versions are read.
 */
export const MESSAGE_VERSION = 2;
/** The versions of status events this nommer reads. */
export const STATUS_VERSIONS: readonly number[] = [1, MESSAGE_VERSION];

/** See StatusEvent.seq. */
export const SEQ_PER_DELIVERY = 1_000_000;

const errorInfo = lazySchema(() => z.object({ code: z.string(), message: z.string(), retriable: z.boolean() }));

/** A preset fully resolved (extends and overrides applied) travels in the task, so workers need no config. */
const resolvedPreset = lazySchema(() => z.record(z.string(), z.unknown()).and(z.object({ name: z.string() })));
/**
 * A resolved preset as it crosses processes (job record, task message): opaque here. feederd
 * checks it as it resolves it (presets/registry.ts); a worker checks it once, in receivedTask.
 */
export type WirePreset = z.infer<ReturnType<typeof resolvedPreset>>;

export const taskOutput = lazySchema(() =>
  z.object({
    preset: resolvedPreset(),
    uri: z.string().min(1),
  }),
);

const taskEnvelope = lazySchema(() =>
  z.object({
    v: z.literal(MESSAGE_VERSION),
    kind: z.literal('task'),
    jobId: z.string().min(1),
    taskId: z.string().min(1),
    attempt: z.number().int().positive(),
    /** The task's kind: which runner a worker calls, and the schema its params must meet. */
    type: z.enum(TASK_KINDS),
    input: z.string().min(1),
    outputs: z.array(taskOutput()).min(1),
    /** Overwrite existing outputs. */
    force: z.boolean().default(false),
    /** The kind's parameters (tasks/params.ts), checked on receipt against the kind's schema. */
    params: z.record(z.string(), z.unknown()).optional(),
  }),
);

function checkParams(
  m: { type: (typeof TASK_KINDS)[number]; params?: Record<string, unknown> },
  ctx: z.RefinementCtx,
): void {
  const r = TASK_PARAMS[m.type].safeParse(m.params ?? {});
  if (!r.success)
    for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: ['params', ...i.path] });
}

export const taskMessage = lazySchema(() => taskEnvelope().superRefine(checkParams));
export type TaskMessage = z.infer<ReturnType<typeof taskMessage>>;
export type TaskMessageInput = z.input<ReturnType<typeof taskMessage>>;

/**
 * A task as a worker receives it: the message, with each output's preset checked here, once (a
 * worker trusts no input). Runners read a ResolvedPreset and check nothing again.
 */
export const receivedTask = lazySchema(() =>
  taskEnvelope()
    .extend({ outputs: z.array(z.object({ preset: resolvedPresetSchema(), uri: z.string().min(1) })).min(1) })
    .superRefine(checkParams),
);
export type ReceivedTask = z.infer<ReturnType<typeof receivedTask>>;

export const statusEvent = lazySchema(() =>
  z.object({
    v: z.union([z.literal(1), z.literal(MESSAGE_VERSION)]),
    kind: z.literal('status'),
    jobId: z.string().min(1),
    taskId: z.string().min(1),
    attempt: z.number().int().positive(),
    /**
     * Per (task, attempt), strictly increasing: duplicates and reordering are detected with it.
     * Workers number events delivery * SEQ_PER_DELIVERY + n, so when a lost worker's message is
     * delivered again, the new worker's events outrank anything the lost one still sends.
     */
    seq: z.number().int().nonnegative(),
    worker: z.string(),
    /** Milliseconds since the epoch, from the worker's clock. */
    at: z.number(),
    type: z.enum(['started', 'phase', 'progress', 'succeeded', 'failed', 'released']),
    phase: z.enum(TASK_PHASES).optional(),
    progress: z
      .object({
        fraction: z.number().min(0).max(1),
        fps: z.number().optional(),
        speed: z.number().optional(),
        etaSeconds: z.number().optional(),
        outTimeSeconds: z.number().optional(),
      })
      .optional(),
    outputs: z.array(z.object({ uri: z.string(), bytes: z.number().int().nonnegative() })).optional(),
    error: errorInfo().optional(),
    /** Task-specific results (e.g. a chunk's manifest entry, an assembly's repaired pieces). */
    result: z.record(z.string(), z.unknown()).optional(),
    /**
     * The EC2 instance the worker runs on (worker/instance-type.ts), so feederd prices its slot
     * time at that type's price. Optional: older workers, and workers that cannot tell, omit it.
     */
    instance: z
      .object({
        type: z
          .string()
          .max(64)
          .regex(/^[a-z0-9][a-z0-9-]*\.[a-z0-9-]+$/),
        /** Absent when the worker does not know its market. */
        spot: z.boolean().optional(),
      })
      .optional(),
  }),
);
export type StatusEvent = z.infer<ReturnType<typeof statusEvent>>;

/** A queue message's body as the ports promise it: parsed JSON when it is JSON, else the raw text. */
export function decodeBody(body: string | undefined): unknown {
  if (body === undefined) return '';
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/** Parse a message body; says why when it is not a valid message of a version we know. */
export function parseMessage<T extends z.ZodTypeAny>(
  schema: T,
  body: unknown,
  versions: readonly number[] = [MESSAGE_VERSION],
): { ok: true; value: z.infer<T> } | { ok: false; reason: string; version?: unknown } {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return { ok: false, reason: 'not JSON' };
    }
  }
  // Only the version is read before the schema: which schema applies depends on it.
  const version = z.looseObject({ v: z.unknown() }).safeParse(value).data?.v;
  if (typeof version !== 'number' || !versions.includes(version))
    return {
      ok: false,
      reason: `unknown message version ${JSON.stringify(version)} (this nommer speaks v${MESSAGE_VERSION})`,
      version,
    };
  const r = schema.safeParse(value);
  if (!r.success)
    return { ok: false, reason: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  return { ok: true, value: r.data };
}
