// Pure parsing of ffmpeg's `-progress pipe:1` output into Progress snapshots, and the arithmetic
// that folds several ffmpeg runs (passes, posters) into one task's progress. No I/O.
import type { Progress } from '../jobs/types.js';

export interface FfmpegProgressBlock {
  frame?: number;
  fps?: number;
  /** Position written so far, seconds (from out_time_us: out_time_ms is really microseconds too). */
  outTimeSeconds?: number;
  speed?: number;
  totalSize?: number;
  end: boolean;
  /**
   * An encoder's own PSNR of its output so far, all planes (`-flags +psnr`), keyed
   * `<file>:<stream>`; only where ffmpeg reports it (the first video stream of a run; the last
   * block has the whole output's).
   */
  psnrAll?: Record<string, number>;
}

/** Feeds on stdout chunks; calls onBlock for each complete key=value block (ended by `progress=`). */
export class ProgressParser {
  private buf = '';
  private cur: Record<string, string> = {};
  constructor(private readonly onBlock: (b: FfmpegProgressBlock) => void) {}

  push(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1).trim();
      if (key === 'progress') {
        this.onBlock(toBlock(this.cur, value === 'end'));
        this.cur = {};
      } else {
        this.cur[key] = value;
      }
    }
  }
}

function finite(s: string | undefined): number | undefined {
  if (s === undefined || s === 'N/A' || s === '') return undefined;
  const n = Number.parseFloat(s);
  return Number.isFinite(n) ? n : undefined;
}

export function toBlock(kv: Record<string, string>, end: boolean): FfmpegProgressBlock {
  const us = finite(kv.out_time_us);
  const speed = finite(kv.speed?.replace(/x$/, ''));
  return {
    frame: finite(kv.frame),
    fps: finite(kv.fps),
    outTimeSeconds: us !== undefined && us >= 0 ? us / 1e6 : undefined,
    speed,
    totalSize: finite(kv.total_size),
    end,
    ...psnrOf(kv),
  };
}

/** The `stream_<file>_<stream>_psnr_all` values of a block, as `{ psnrAll }` (none: {}). */
function psnrOf(kv: Record<string, string>): Pick<FfmpegProgressBlock, 'psnrAll'> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(kv)) {
    const m = /^stream_(\d+)_(\d+)_psnr_all$/.exec(k);
    const x = m ? finite(v) : undefined;
    if (m && x !== undefined) out[`${m[1]}:${m[2]}`] = x;
  }
  return Object.keys(out).length ? { psnrAll: out } : {};
}

/**
 * Folds per-run progress into the task's: runs have weights (a first pass is cheaper than the
 * second); the fraction is the weighted share done. ETA comes from wall time spent so far.
 */
export class TaskProgress {
  private readonly total: number;
  private doneWeight = 0;
  private current = 0;
  constructor(
    private readonly weights: number[],
    private readonly durationSeconds: number,
    private readonly startedAt: number,
  ) {
    this.total = weights.reduce((a, b) => a + b, 0) || 1;
  }

  /** Progress after block b of run i, at wall-clock time now (ms). */
  update(i: number, b: FfmpegProgressBlock, now: number): Progress {
    if (i !== this.current) {
      for (let k = this.current; k < i; k++) this.doneWeight += this.weights[k] ?? 0;
      this.current = i;
    }
    let runFraction = 0;
    if (b.end) runFraction = 1;
    else if (this.durationSeconds > 0 && b.outTimeSeconds !== undefined)
      runFraction = Math.min(1, Math.max(0, b.outTimeSeconds / this.durationSeconds));
    const fraction = Math.min(1, (this.doneWeight + (this.weights[i] ?? 0) * runFraction) / this.total);
    const elapsed = (now - this.startedAt) / 1000;
    const etaSeconds =
      fraction >= 0.01 && fraction < 1 && elapsed > 0.5
        ? Math.round((elapsed * (1 - fraction)) / fraction)
        : fraction >= 1
          ? 0
          : undefined;
    return { fraction, fps: b.fps, speed: b.speed, etaSeconds, outTimeSeconds: b.outTimeSeconds };
  }
}
