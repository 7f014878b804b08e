// One ffprobe for what a "whole output" assertion reads: codecs, sizes and duration, with every
// frame decoded (-count_frames), so a decoder error shows on stderr as decodesCleanly's ffmpeg
// run would show it: a probe and a decode for the price of one process start.
import { spawnSync } from 'node:child_process';
import { FFPROBE, type Probed } from './media.js';

export interface DecodedProbe extends Probed {
  /** True when every frame decoded without an error line (and ffprobe succeeded). */
  clean: boolean;
  errors: string;
}

export function probeDecoded(path: string): DecodedProbe {
  const r = spawnSync(
    FFPROBE,
    ['-v', 'error', '-count_frames', '-print_format', 'json', '-show_format', '-show_streams', path],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const clean = r.status === 0 && r.stderr.trim() === '';
  const parsed = (r.status === 0 ? JSON.parse(r.stdout) : { streams: [], format: {} }) as Probed;
  return { ...parsed, clean, errors: r.stderr };
}
