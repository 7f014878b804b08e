// feederd's estimator for new jobs (cost/estimate.ts): probes a local input for its length and
// size, takes the speeds of past jobs from the store, the slot price and the fleet's slots, and
// plans the job's tasks as feederd would (chunked/planner.ts): a package's renditions by the
// source's ladder (abr/ladder.ts), chunks by chunking's settings and chunkCount. Remote inputs
// are not probed here: no estimate (the budget still stops the job if its cost passes the limit
// while it runs).
import { isPackagePreset, planLadder } from '../abr/ladder.js';
import { chunkCount } from '../chunked/plan.js';
import { type ChunkingSettings, unchunkableReason } from '../tasks/planner.js';
import type { Estimate, MediaInfo, PastJob, WorkPlan } from '../cost/estimate.js';
import { estimateJob } from '../cost/estimate.js';
import { probeInput } from '../ffmpeg/probe.js';
import type { ProbeInfo } from '../ffmpeg/types.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { isLocalUri, localPathOf } from '../uri.js';

/** The codec family the default speed table knows a preset by. */
export function presetFamily(p: ResolvedPreset): string {
  return p.video?.codec ?? 'audio';
}

export interface EstimateRequest {
  /** The chunk count feederd planned (1: not chunked); undefined: decide here as the planner would. */
  chunks?: number;
  /** The job's own choice (submit --chunked / --no-chunked); undefined: as config says. */
  chunked?: boolean;
  /** Why feederd planned one piece, when it did. */
  why?: string;
}

/**
 * How feederd will split this job: what chunked/planner.ts decides, from the probe alone (the
 * planner also lists frames; keyframes far apart can give it fewer chunks than planned here).
 */
export function planWork(o: {
  info: ProbeInfo;
  outputs: ReadonlyArray<{ preset: ResolvedPreset; uri?: string }>;
  slots: number;
  chunking?: ChunkingSettings;
  request: EstimateRequest;
}): WorkPlan {
  const pkg = o.outputs.length === 1 && isPackagePreset(o.outputs[0]!.preset) ? o.outputs[0]! : undefined;
  if (pkg && o.info.video) {
    const preset = pkg.preset;
    return {
      kind: 'package',
      renditions: planLadder(preset, o.info.video),
      audio: Boolean(o.info.audio && preset.audio),
    };
  }
  const first = o.outputs[0];
  const preset = first?.preset;
  const audio = Boolean(o.info.audio && preset?.audio);
  const { chunks, chunked } = o.request;
  if (chunks !== undefined)
    return chunks >= 2
      ? { kind: 'chunked', chunks, audio }
      : { kind: 'single', why: o.request.why ?? 'feederd planned one piece' };
  const c = o.chunking;
  if (chunked === false) return { kind: 'single', why: 'chunking turned off for this job' };
  if (!c || (chunked === undefined && !c.enabled)) return { kind: 'single', why: 'chunking is off in config' };
  const why = unchunkableReason(o.outputs.map((x) => ({ preset: x.preset, uri: x.uri ?? '' })));
  if (why) return { kind: 'single', why };
  if (chunked === undefined && o.info.duration < c.thresholdSeconds)
    return { kind: 'single', why: `shorter than chunking.thresholdSeconds (${c.thresholdSeconds} s)` };
  if (preset?.audio && preset.audio.optional === false && !o.info.audio)
    return { kind: 'single', why: 'the preset needs audio and the input has none' };
  const n = chunkCount(o.info.duration, c.chunkSeconds, o.slots);
  if (n < 2) return { kind: 'single', why: 'too short to split into chunks' };
  return { kind: 'chunked', chunks: n, audio };
}

export function makeEstimator(o: {
  /** Past jobs' speeds (feederd: its store; the CLI without feederd: none). */
  history: () => PastJob[];
  ffprobe: () => string;
  /** $/hour of one slot; undefined: no price. */
  usdPerSlotHour: () => number | undefined;
  /** Worker slots of the fleet (aws: maxInstances x slotsPerInstance; local: workers). */
  slots: () => number;
  /** Config chunking; absent: jobs are not chunked unless feederd planned chunks. */
  chunking?: () => ChunkingSettings;
}) {
  return async (
    input: string,
    outputs: Array<{ preset: ResolvedPreset; uri?: string }>,
    request: EstimateRequest = {},
  ): Promise<(Estimate & { media: MediaInfo }) | undefined> => {
    if (!isLocalUri(input)) return undefined;
    // An input feederd cannot probe (no ffprobe here, an odd file) has no estimate; the job is
    // still checked by its worker, and a budget still stops it while it runs.
    const info = await probeInput(o.ffprobe(), localPathOf(input)).catch(() => undefined);
    if (!info) return undefined;
    if (!(info.duration > 0)) return undefined;
    const media: MediaInfo = { seconds: info.duration, height: info.video?.height ?? null };
    const slots = Math.max(1, Math.floor(o.slots()));
    const plan = planWork({ info, outputs, slots, chunking: o.chunking?.(), request });
    const e = estimateJob({
      media,
      outputs: outputs.map((x) => ({ preset: x.preset.name, family: presetFamily(x.preset) })),
      history: o.history(),
      usdPerSlotHour: o.usdPerSlotHour() ?? null,
      slots,
      plan,
    });
    return { ...e, media };
  };
}
