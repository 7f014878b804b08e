// feederd's estimator for new jobs (cost/estimate.ts): probes a local input for its length and
// height, takes the speeds of past jobs from the store, the slot price and the slots that can
// share the job. Remote inputs are not probed here: no estimate (the budget still stops the job
// if its cost passes the limit while it runs).
import type { Estimate, MediaInfo, PastJob } from '../cost/estimate.js';
import { estimateJob } from '../cost/estimate.js';
import { probeInput } from '../ffmpeg/probe.js';
import type { WirePreset } from '../messages.js';
import { isLocalUri, localPathOf } from '../uri.js';

/** The codec family the default speed table knows a preset by. */
export function presetFamily(p: WirePreset): string {
  const codec = (p.video as { codec?: unknown } | null | undefined)?.codec;
  return typeof codec === 'string' ? codec : 'audio';
}

export function makeEstimator(o: {
  /** Past jobs' speeds (feederd: its store; the CLI without feederd: none). */
  history: () => PastJob[];
  ffprobe: () => string;
  /** $/hour of one slot; undefined: no price. */
  usdPerSlotHour: () => number | undefined;
  /** Worker slots that could run pieces of one job at once. */
  slots: () => number;
}) {
  return async (
    input: string,
    outputs: Array<{ preset: WirePreset }>,
    chunks: number | undefined,
  ): Promise<(Estimate & { media: MediaInfo }) | undefined> => {
    if (!isLocalUri(input)) return undefined;
    // An input feederd cannot probe (no ffprobe here, an odd file) has no estimate; the job is
    // still checked by its worker, and a budget still stops it while it runs.
    const info = await probeInput(o.ffprobe(), localPathOf(input)).catch(() => undefined);
    if (!info) return undefined;
    if (!(info.duration > 0)) return undefined;
    const media: MediaInfo = { seconds: info.duration, height: info.video?.height ?? null };
    const e = estimateJob({
      media,
      outputs: outputs.map((x) => ({ preset: x.preset.name, family: presetFamily(x.preset) })),
      history: o.history(),
      usdPerSlotHour: o.usdPerSlotHour() ?? null,
      parallelism: chunks ? Math.min(chunks, o.slots()) : 1,
    });
    return { ...e, media };
  };
}
