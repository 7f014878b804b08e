// What a job will cost before it runs: its media length times the slot-seconds one media second
// takes with that preset at that height, from past jobs of the same preset and height class
// (their median), or a default table before there is history; priced per slot second for the
// dollars. The wall time follows the job's plan (WorkPlan): a chunked job's chunks and audio, or
// a package's renditions, audio and extras, go to the fleet's slots in waves (chunked/plan.ts
// simulateWallTime), then the assembly or packaging runs alone; the slot-seconds do not shrink.
// Pure: the history, the plan and the prices come in.
import { simulateWallTime } from '../chunked/plan.js';

export interface MediaInfo {
  /** Length in seconds. */
  seconds: number;
  /** Video height in pixels; null for audio only. */
  height: number | null;
}

export interface PastJob {
  preset: string;
  height: number | null;
  mediaSeconds: number;
  workerSeconds: number;
}

export interface Estimate {
  /** Expected wall time from start to finish, s. */
  seconds: number;
  /** Expected slot time (what is paid for), s. */
  workerSeconds: number;
  usd: number | null;
  /** Where the speed came from, per output. */
  basis: string;
}

/**
 * Slot-seconds per media second at 360p by codec family: `node dist/bench/speed-table.js` on a
 * 2-core machine (2026-12-01, Debian ffmpeg 5.1, nommer's presets at their defaults, each encode
 * alone, on a quiet machine). Other heights
 * scale with the pixel count. Past jobs replace them as soon as there are three of a kind.
 */
export const DEFAULT_SPEED = {
  recorded: '2026-12-01',
  reference: 'bench/speed-table, 2-core machine, 360p',
  slotSecondsPerMediaSecond: { vp9: 0.652, av1: 0.633, vp8: 0.414, theora: 0.43, webp: 0.065, audio: 0.072 } as Record<
    string,
    number
  >,
};

/** Height classes: jobs are compared with past jobs of the same class. */
export function heightClass(height: number | null): string {
  if (height === null) return 'audio';
  if (height <= 270) return '240p';
  if (height <= 400) return '360p';
  if (height <= 576) return '480p';
  if (height <= 800) return '720p';
  if (height <= 1200) return '1080p';
  return '4k';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The key past jobs are matched by: the same presets, in order, at the same height class. */
export function presetKey(presets: string[]): string {
  return presets.join('+');
}

/** Slot-seconds per media second of a default-table output, by pixel count (16:9 when the width is not known). */
function defaultRate(family: string, height: number | null, width?: number): number {
  const base = DEFAULT_SPEED.slotSecondsPerMediaSecond[family] ?? DEFAULT_SPEED.slotSecondsPerMediaSecond.vp9!;
  if (height === null || family === 'audio') return base;
  const w = width ?? (height * 16) / 9;
  return (base * height * w) / (360 * 640);
}

const slotsText = (n: number) => (n === 1 ? '1 slot' : `${n} slots`);

/**
 * How the job's work is cut into tasks, as feederd will plan it (orchestrator/estimator.ts
 * decides): one task; chunks of the video plus the audio once, then an assembly; or an
 * adaptive-streaming package, a rendition per rung plus audio and extras, then the packaging.
 */
export type WorkPlan =
  | { kind: 'single'; why?: string }
  | { kind: 'chunked'; chunks: number; audio: boolean }
  | { kind: 'package'; renditions: Array<{ rung: number; width: number; height: number }>; audio: boolean };

/**
 * Rough costs of the parts of a split job besides encoding, in slot-seconds: a task's start-up
 * (fetch, probe, spawn, the GOP decoded before a chunk) and the copy-only tail (assembly,
 * packaging) per media second. Assumptions of the model, not measurements: past jobs of a kind
 * rescale the whole plan to what such jobs really took.
 */
export const SPLIT_MODEL = { taskStartSeconds: 1, tailStartSeconds: 1, tailPerMediaSecond: 0.02 };

export interface EstimateRequest {
  media: MediaInfo;
  outputs: Array<{ preset: string; family: string }>;
  history: PastJob[];
  /** $/hour of one slot; null: no price. */
  usdPerSlotHour: number | null;
  /** Worker slots that can run this job's tasks at once (the fleet's); default 1. */
  slots?: number;
  /** Default: one task. */
  plan?: WorkPlan;
  /** Older callers: the work shared evenly by this many slots, with no plan. */
  parallelism?: number;
}

export function estimateJob(o: EstimateRequest): Estimate {
  const slots = Math.max(1, Math.floor(o.slots ?? 1));
  const { tasks, serial, shape } = modelTasks(o, slots);
  const modeled = tasks.reduce((a, b) => a + b, 0) + serial;
  // Past jobs of the kind say how much work it really is; the plan says how it spreads.
  const { k, basis } = scaleByHistory(o, modeled);
  const work = modeled * k;
  const wall = simulateWallTime(
    tasks.map((t) => t * k),
    o.plan === undefined && o.parallelism !== undefined ? Math.max(1, Math.floor(o.parallelism)) : slots,
    { serialTail: serial * k },
  );
  const workerSeconds = Math.round(work * 10) / 10;
  return {
    seconds: Math.round(wall * 10) / 10,
    workerSeconds,
    usd: o.usdPerSlotHour === null ? null : Math.round(((workerSeconds * o.usdPerSlotHour) / 3600) * 1e6) / 1e6,
    basis: `${basis}; ${shape}`,
  };
}

/**
 * The plan's tasks at default-table speeds (slot-seconds each), its serial tail, and its shape in
 * words. Before any history: scaleByHistory rescales the whole.
 */
function modelTasks(o: EstimateRequest, slots: number): { tasks: number[]; serial: number; shape: string } {
  const plan: WorkPlan = o.plan ?? { kind: 'single' };
  const secs = o.media.seconds;
  const audioRate = DEFAULT_SPEED.slotSecondsPerMediaSecond.audio!;
  const start = SPLIT_MODEL.taskStartSeconds;
  const tail = SPLIT_MODEL.tailStartSeconds + SPLIT_MODEL.tailPerMediaSecond * secs;
  const whole = () => o.outputs.reduce((sum, x) => sum + defaultRate(x.family, o.media.height), 0) * secs;
  if (plan.kind === 'chunked') {
    const audio = plan.audio ? audioRate * secs : 0;
    const w = whole();
    const video = Math.max(w - audio, w / 2);
    const tasks = Array.from({ length: plan.chunks }, () => video / plan.chunks + start);
    // The audio task's id sorts before the chunks': it is dispatched first.
    if (plan.audio) tasks.unshift(audio + start);
    const shape = `${plan.chunks} chunks on ${slotsText(slots)}${plan.audio ? ' with the audio beside them' : ''}, then assembly`;
    return { tasks, serial: tail, shape };
  }
  if (plan.kind === 'package') {
    const family = o.outputs[0]?.family ?? 'vp9';
    const tasks = plan.renditions.map(
      (r) => defaultRate(family, Math.min(r.width, r.height), Math.max(r.width, r.height)) * secs + start,
    );
    if (plan.audio) tasks.push(audioRate * secs + start);
    // Poster and seek thumbnails: one ffmpeg run over the input, about what a poster preset takes.
    tasks.push(DEFAULT_SPEED.slotSecondsPerMediaSecond.webp! * secs + start);
    const names = plan.renditions.map((r) => `${Math.min(r.width, r.height)}p`).join(', ');
    const shape = `package of ${plan.renditions.length} rendition(s) (${names})${plan.audio ? ' + audio' : ''} + extras on ${slotsText(slots)}, then packaging`;
    return { tasks, serial: tail, shape };
  }
  if (o.plan === undefined && o.parallelism !== undefined && o.parallelism > 1) {
    const p = Math.floor(o.parallelism);
    const w = whole();
    return { tasks: Array.from({ length: p }, () => w / p), serial: 0, shape: `shared evenly by ${p} slots` };
  }
  const shape = `one task on one slot${plan.why ? ` (not chunked: ${plan.why})` : ''}`;
  return { tasks: [whole()], serial: 0, shape };
}

/**
 * The factor past jobs of the same presets and height class put on the model (1 with fewer than
 * three of them), and the basis said with the estimate.
 */
function scaleByHistory(o: EstimateRequest, modeled: number): { k: number; basis: string } {
  const key = presetKey(o.outputs.map((x) => x.preset));
  const cls = heightClass(o.media.height);
  const same = o.history.filter(
    (h) => h.preset === key && heightClass(h.height) === cls && h.mediaSeconds > 0 && h.workerSeconds > 0,
  );
  if (same.length < 3)
    return {
      k: 1,
      basis: `${key} at ${cls}: default speed table (${DEFAULT_SPEED.reference}, ${DEFAULT_SPEED.recorded}); ${same.length} past job(s), 3 needed`,
    };
  const rate = median(same.map((h) => h.workerSeconds / h.mediaSeconds));
  return {
    k: modeled > 0 ? (rate * o.media.seconds) / modeled : 1,
    basis: `${key} at ${cls}: median speed of ${same.length} past jobs`,
  };
}
