// An ffmpeg whose encodes a test can hold to real time, for the tests that act while an encode
// runs (kill its worker, cancel it, stop feederd). Without it those tests need inputs long enough
// that a full-speed encode surely lasts until the test acts, and pay for every frame of them
// again when the job is retried: tens of seconds of CPU per test, and still a race on a fast
// machine. With the brake on, ffmpeg reads its input at `rate` times real time (its own
// `-readrate`, an input option): an encode of an N-second clip lasts at least N/rate seconds on
// any machine, by construction, and costs next to no CPU while it waits. With the brake off the
// same real ffmpeg runs unchanged, so the retry after the fault encodes the clip at full speed.
//
// It is a small bash script in a temp dir of its own, given to feederd (and so its workers) as
// NOMMER_FFMPEG: it reads the brake file at each start, puts `-readrate <rate>` before every
// `-i` while the file holds a rate, and execs the real ffmpeg in its own place (same pid, so the
// worker's parent-death signal and the tests' /proc lookups see ffmpeg itself). Not under the
// test's directory: the tests look for that directory in command lines to find their ffmpegs, and
// must not take the script, for the moment before its exec, for one.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { FFMPEG, FFPROBE } from './media.js';

export interface PacedFfmpeg {
  /** For feederd's (or a worker's) environment: its ffmpeg is the wrapper, its ffprobe the real one. */
  env: { NOMMER_FFMPEG: string; NOMMER_FFPROBE: string };
  /** Encodes started from now on read their input at `rate` times real time. */
  hold(rate?: number): void;
  /** Encodes started from now on run at full speed (one started while held stays paced). */
  release(): void;
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

function absolute(tool: string): string {
  if (isAbsolute(tool)) return tool;
  return execFileSync('bash', ['-c', 'command -v "$1"', 'bash', tool], { encoding: 'utf8' }).trim();
}

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Writes a wrapper (held from the start when `held`, at 1x real time); removed when the test process exits. */
export function pacedFfmpeg(opts: { held?: boolean } = {}): PacedFfmpeg {
  const bin = mkdtempSync(join(tmpdir(), 'nommer-paced-ffmpeg-'));
  made.push(bin);
  const brake = join(bin, 'brake');
  const wrapper = join(bin, 'ffmpeg');
  writeFileSync(
    wrapper,
    [
      '#!/bin/bash',
      '# Written by test/helpers/paced-ffmpeg.ts: the real ffmpeg, reading its input at the rate in',
      '# the brake file while there is one.',
      `rate=$(cat ${quote(brake)} 2>/dev/null)`,
      `[ -n "$rate" ] || exec ${quote(absolute(FFMPEG))} "$@"`,
      'args=()',
      'for a in "$@"; do',
      '  [ "$a" = -i ] && args+=(-readrate "$rate")',
      '  args+=("$a")',
      'done',
      `exec ${quote(absolute(FFMPEG))} "\${args[@]}"`,
      '',
    ].join('\n'),
  );
  chmodSync(wrapper, 0o755);
  const paced: PacedFfmpeg = {
    env: { NOMMER_FFMPEG: wrapper, NOMMER_FFPROBE: absolute(FFPROBE) },
    hold: (rate = 1) => writeFileSync(brake, String(rate)),
    release: () => rmSync(brake, { force: true }),
  };
  if (opts.held) paced.hold();
  return paced;
}
