// What a job will cost before it runs: its media length times the slot-seconds one media second
// takes with that preset at that height, from past jobs of the same preset and height class
// (their median), or a default table before there is history; divided over the slots that can
// work on it at once (its chunks, the fleet's slots) for the wall time, and priced per slot
// second for the dollars. Pure: the history and the prices come in.

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

/** Slot-seconds per media second of a default-table output. */
function defaultRate(family: string, height: number | null): number {
  const base = DEFAULT_SPEED.slotSecondsPerMediaSecond[family] ?? DEFAULT_SPEED.slotSecondsPerMediaSecond.vp9!;
  if (height === null || family === 'audio') return base;
  // By pixel count, 16:9 assumed.
  return (base * height * height) / (360 * 360);
}

export function estimateJob(o: {
  media: MediaInfo;
  outputs: Array<{ preset: string; family: string }>;
  history: PastJob[];
  /** $/hour of one slot; null: no price. */
  usdPerSlotHour: number | null;
  /** Slots that can work on this job at once (its chunks on the fleet's slots); 1 without chunking. */
  parallelism: number;
}): Estimate {
  const key = presetKey(o.outputs.map((x) => x.preset));
  const cls = heightClass(o.media.height);
  const same = o.history.filter(
    (h) => h.preset === key && heightClass(h.height) === cls && h.mediaSeconds > 0 && h.workerSeconds > 0,
  );
  let rate: number;
  let basis: string;
  if (same.length >= 3) {
    rate = median(same.map((h) => h.workerSeconds / h.mediaSeconds));
    basis = `${key} at ${cls}: median speed of ${same.length} past jobs`;
  } else {
    rate = o.outputs.reduce((sum, x) => sum + defaultRate(x.family, o.media.height), 0);
    basis = `${key} at ${cls}: default speed table (${DEFAULT_SPEED.reference}, ${DEFAULT_SPEED.recorded}); ${same.length} past job(s), 3 needed`;
  }
  const work = rate * o.media.seconds;
  const parallel = Math.max(1, Math.floor(o.parallelism));
  const workerSeconds = Math.round(work * 10) / 10;
  return {
    seconds: Math.round((work / parallel) * 10) / 10,
    workerSeconds,
    usd: o.usdPerSlotHour === null ? null : Math.round(((workerSeconds * o.usdPerSlotHour) / 3600) * 1e6) / 1e6,
    basis,
  };
}
