// Programs of known loudness made with lavfi (a quiet one near -40 LUFS, a loud one near -6 LUFS,
// a quiet one with clicks whose peaks no linear gain can raise), and an independent measurement
// of a file's audio: ffmpeg's ebur128 as a user runs it (its default frame log, the summary read
// from the end), not nommer's measuring code.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { FFMPEG } from './media.js';

export interface Ebur128 {
  integrated: number;
  truePeak: number;
  lra: number;
}

/** The ebur128 summary of a file's first audio stream (true peak 4× oversampled). */
export function ebur128(path: string): Ebur128 {
  const r = spawnSync(
    FFMPEG,
    ['-hide_banner', '-nostats', '-i', path, '-map', '0:a:0', '-af', 'ebur128=peak=true', '-f', 'null', '-'],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  if (r.status !== 0) throw new Error(`ebur128 of ${path} failed: ${r.stderr.slice(-500)}`);
  const summary = r.stderr.slice(r.stderr.lastIndexOf('Summary:'));
  const read = (re: RegExp) => {
    const m = re.exec(summary);
    if (!m) throw new Error(`no ${re} in ${summary}`);
    return Number(m[1]);
  };
  return {
    integrated: read(/I:\s+(-?[\d.]+) LUFS/),
    lra: read(/LRA:\s+(-?[\d.]+) LU/),
    truePeak: read(/Peak:\s+(-?[\d.]+) dBFS/),
  };
}

/** Audio graphs (48 kHz stereo) of the programs, `seconds` long. */
export const PROGRAMS = {
  /** Pink noise near -40 LUFS, true peak about 10 dB above it. */
  quiet: (seconds: number) => ({
    inputs: [`anoisesrc=color=pink:amplitude=0.055:duration=${seconds}:sample_rate=48000:seed=7`],
    filter: 'aformat=channel_layouts=stereo',
  }),
  /** Two tones with a tremolo over pink noise, near -6 LUFS, true peak about -4 dBTP. */
  loud: (seconds: number) => ({
    inputs: [
      `aevalsrc=0.55*sin(2*PI*997*t)*(0.85+0.15*sin(2*PI*3*t))|0.55*sin(2*PI*1499*t)*(0.85+0.15*sin(2*PI*2*t)):s=48000:d=${seconds}`,
      `anoisesrc=color=pink:amplitude=0.12:duration=${seconds}:sample_rate=48000:seed=3`,
    ],
    filter: 'amix=inputs=2:normalize=0',
  }),
  /** Quiet pink noise (near -39 LUFS) with a click of -3 dBFS every second: raised by 23 dB, the
   * clicks would peak 20 dB over any ceiling. */
  peaky: (seconds: number) => ({
    inputs: [
      `anoisesrc=color=pink:amplitude=0.05:duration=${seconds}:sample_rate=48000:seed=7`,
      `aevalsrc=if(lt(mod(t\\,1)\\,0.00005)\\,0.7\\,0):s=48000:d=${seconds}`,
    ],
    filter: 'amix=inputs=2:normalize=0,aformat=channel_layouts=stereo',
  }),
  /** Pink noise 4 s loud, 4 s 20 dB softer, twice: a loudness range near 20 LU. */
  wide: (seconds: number) => ({
    inputs: [`anoisesrc=color=pink:amplitude=1:duration=${seconds}:sample_rate=48000:seed=5`],
    filter: "volume='if(lt(mod(t,8),4),0.3,0.03)':eval=frame,aformat=channel_layouts=stereo",
  }),
};

/**
 * A program file at dir/name: the audio graph as 16-bit PCM in Matroska (exact, so the input's
 * measurement is the graph's), with a small H.264 picture unless `video` is false.
 */
export function program(
  dir: string,
  name: string,
  audio: { inputs: string[]; filter: string },
  o: { seconds: number; video?: boolean },
): string {
  const path = join(dir, name);
  const video = o.video ?? true;
  const lavfi = [...(video ? [`testsrc2=size=160x120:rate=10:duration=${o.seconds}`] : []), ...audio.inputs];
  const first = video ? 1 : 0;
  const labels = audio.inputs.map((_, i) => `[${first + i}:a]`).join('');
  execFileSync(FFMPEG, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    ...lavfi.flatMap((src) => ['-f', 'lavfi', '-i', src]),
    '-filter_complex',
    `${labels}${audio.filter}[a]`,
    ...(video ? ['-map', '0:v', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '10'] : []),
    '-map',
    '[a]',
    '-c:a',
    'pcm_s16le',
    '-t',
    String(o.seconds),
    path,
  ]);
  return path;
}
