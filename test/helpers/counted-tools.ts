// An ffmpeg and an ffprobe that write down every start, for the tests that hold how many
// processes nommer starts around a job (each costs ~0.13 CPU-s of start-up on Debian's 5.1
// before any work). Two small bash scripts, given as NOMMER_FFMPEG and NOMMER_FFPROBE: each
// appends its tool's name and argv (a line) to the log its environment names
// (NOMMER_TEST_STARTS_LOG), then execs the real binary in its own place (same pid, as
// test/helpers/paced-ffmpeg.ts does). The scripts hold no per-test path: each is one file for
// every test (tool-scripts.ts says why).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FFMPEG, FFPROBE } from './media.js';
import { absoluteTool, sharedScript, shellQuote } from './tool-scripts.js';

export interface CountedTools {
  /** For nommer's environment (and so its workers'): the two wrappers and the log they write. */
  env: { NOMMER_FFMPEG: string; NOMMER_FFPROBE: string; NOMMER_TEST_STARTS_LOG: string };
  /** Every start so far, in order: the tool ('ffmpeg' | 'ffprobe') and its arguments. */
  starts(): Array<{ tool: string; args: string[] }>;
}

/** A start that only asks ffmpeg what it has (ffmpeg/locate.ts; kept on disk per binary). */
export const isCapabilityAsk = (s: { tool: string; args: string[] }): boolean =>
  s.tool === 'ffmpeg' && s.args.length === 2 && ['-version', '-encoders', '-filters'].includes(s.args[1]!);

/**
 * What a plain encode of `input` may start, capability asks aside: one ffprobe of the input, then
 * one ffmpeg that encodes it (the output's length is read from its header, not probed).
 */
export function assertOneProbeOneEncode(tools: CountedTools, input: string): void {
  const starts = tools.starts().filter((x) => !isCapabilityAsk(x));
  assert.deepEqual(
    starts.map((x) => [x.tool, x.args.at(-1)]),
    [
      ['ffprobe', `file:${input}`],
      ['ffmpeg', starts[1]?.args.at(-1)],
    ],
    JSON.stringify(starts),
  );
  assert.ok(starts[1]!.args.includes(`file:${input}`), 'the ffmpeg is the encode of the input');
}

/** The counting wrapper of `real`, named `tool` (tool-scripts.ts: one file for every test). */
function wrapper(tool: string, real: string): string {
  // One line a start: the tool and its arguments joined by the unit separator (0x1f), which no
  // argument nommer gives holds, written in one append so concurrent starts do not interleave.
  return sharedScript(
    tool,
    [
      '#!/bin/bash',
      '# Written by test/helpers/counted-tools.ts: logs this start, then runs the real tool.',
      `[ -n "$NOMMER_TEST_STARTS_LOG" ] && (IFS=$'\\x1f'; printf '%s\\n' "${tool}$IFS$*") >> "$NOMMER_TEST_STARTS_LOG"`,
      `exec ${shellQuote(real)} "$@"`,
      '',
    ].join('\n'),
  );
}

const logs: string[] = [];
process.on('exit', () => {
  for (const d of logs) rmSync(d, { recursive: true, force: true });
});

/** The wrappers (shared by every test), and a log of this caller's own, removed when the test process exits. */
export function countedTools(): CountedTools {
  const logDir = mkdtempSync(join(tmpdir(), 'nommer-counted-starts-'));
  logs.push(logDir);
  const log = join(logDir, 'starts.log');
  return {
    env: {
      NOMMER_FFMPEG: wrapper('ffmpeg', absoluteTool(FFMPEG)),
      NOMMER_FFPROBE: wrapper('ffprobe', absoluteTool(FFPROBE)),
      NOMMER_TEST_STARTS_LOG: log,
    },
    starts: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => {
              const [tool, ...args] = l.split('\x1f');
              return { tool: tool!, args };
            })
        : [],
  };
}
