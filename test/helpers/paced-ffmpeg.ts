// An ffmpeg whose encodes a test can hold to real time, for the tests that act while an encode
// runs (kill its worker, cancel it, stop feederd). Without it those tests need inputs long enough
// that a full-speed encode surely lasts until the test acts, and pay for every frame of them
// again when the job is retried: tens of seconds of CPU per test, and still a race on a fast
// machine. With the brake on, ffmpeg reads its input at `rate` times real time (its own
// `-readrate`, an input option): an encode of an N-second clip lasts at least N/rate seconds on
// any machine, by construction, and costs next to no CPU while it waits. With the brake off the
// same real ffmpeg runs unchanged, so the retry after the fault encodes the clip at full speed.
//
// It is a small bash script given to feederd (and so its workers) as NOMMER_FFMPEG, with the path
// of this caller's brake file in NOMMER_TEST_BRAKE: at each start it reads the brake file, puts
// `-readrate <rate>` before every `-i` while the file holds a rate, and execs the real ffmpeg in
// its own place (same pid, so the worker's parent-death signal and the tests' /proc lookups see
// ffmpeg itself). The script is one file for every test (tool-scripts.ts says why), under the temp
// dir, not the test's directory: the tests look for that directory in command lines to find their
// ffmpegs, and must not take the script, for the moment before its exec, for one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FFMPEG, FFPROBE } from './media.js';
import { absoluteTool, sharedScript, shellQuote } from './tool-scripts.js';

export interface PacedFfmpeg {
  /** For feederd's (or a worker's) environment: its ffmpeg is the wrapper, its ffprobe the real one. */
  env: { NOMMER_FFMPEG: string; NOMMER_FFPROBE: string; NOMMER_TEST_BRAKE: string };
  /** Encodes started from now on read their input at `rate` times real time. */
  hold(rate?: number): void;
  /** Encodes started from now on run at full speed (one started while held stays paced). */
  release(): void;
}

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Writes a wrapper (held from the start when `held`, at 1x real time); removed when the test process exits. */
export function pacedFfmpeg(opts: { held?: boolean } = {}): PacedFfmpeg {
  const dir = mkdtempSync(join(tmpdir(), 'nommer-paced-ffmpeg-'));
  made.push(dir);
  const brake = join(dir, 'brake');
  const ffmpeg = shellQuote(absoluteTool(FFMPEG));
  const wrapper = sharedScript(
    'ffmpeg',
    [
      '#!/bin/bash',
      '# Written by test/helpers/paced-ffmpeg.ts: the real ffmpeg, reading its input at the rate in',
      '# the brake file ($NOMMER_TEST_BRAKE) while there is one.',
      'rate=$(cat "$NOMMER_TEST_BRAKE" 2>/dev/null)',
      `[ -n "$rate" ] || exec ${ffmpeg} "$@"`,
      'args=()',
      'for a in "$@"; do',
      '  [ "$a" = -i ] && args+=(-readrate "$rate")',
      '  args+=("$a")',
      'done',
      `exec ${ffmpeg} "\${args[@]}"`,
      '',
    ].join('\n'),
  );
  const paced: PacedFfmpeg = {
    env: { NOMMER_FFMPEG: wrapper, NOMMER_FFPROBE: absoluteTool(FFPROBE), NOMMER_TEST_BRAKE: brake },
    hold: (rate = 1) => writeFileSync(brake, String(rate)),
    release: () => rmSync(brake, { force: true }),
  };
  if (opts.held) paced.hold();
  return paced;
}
