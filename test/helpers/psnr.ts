// An independent PSNR measurement for tests: ffmpeg's psnr filter run directly (not nommer's
// measure.ts), frames paired by number as nommer pairs them.
import { spawnSync } from 'node:child_process';
import { FFMPEG } from './media.js';

/** ffmpeg running a metric `filter` (its stats file on stdout) on a against b, frames paired by number. */
export function pairedRun(a: string, b: string, filter: string) {
  return spawnSync(
    FFMPEG,
    [
      '-hide_banner',
      '-nostats',
      '-i',
      a,
      '-i',
      b,
      '-lavfi',
      `[0:v]settb=1/30,setpts=N[x];[1:v]settb=1/30,setpts=N[y];[x][y]${filter}`,
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
}

/**
 * The psnr filter's "average" (all planes, from the mean MSE) of a against b, and each frame's
 * luma PSNR (`yFrames`, in frame order; identical frames as 100 dB).
 */
export function psnr(a: string, b: string): { average: number; yFrames: number[]; frames: number } {
  const r = pairedRun(a, b, 'psnr=stats_file=-:shortest=1');
  const summary = /PSNR y:[0-9.inf]+ .*average:([0-9.]+)/.exec(r.stderr);
  if (!summary) throw new Error(`no PSNR summary: ${r.stderr.slice(-500)}`);
  const yFrames = [...r.stdout.matchAll(/^n:\d+ .*\bpsnr_y:([0-9.]+|inf)/gm)].map((m) =>
    m[1] === 'inf' ? 100 : Number(m[1]),
  );
  return { average: Number(summary[1]), yFrames, frames: yFrames.length };
}
