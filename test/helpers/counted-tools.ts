// An ffmpeg and an ffprobe that write down every start, for the tests that hold how many
// processes nommer starts around a job (each costs ~0.13 CPU-s of start-up on Debian's 5.1
// before any work). Two small bash scripts in a temp dir of their own, given as NOMMER_FFMPEG and
// NOMMER_FFPROBE: each appends its tool's name and argv (a line) to a log, then
// execs the real binary in its own place (same pid, as test/helpers/paced-ffmpeg.ts does).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { FFMPEG, FFPROBE } from './media.js';

export interface CountedTools {
  env: { NOMMER_FFMPEG: string; NOMMER_FFPROBE: string };
  /** Every start so far, in order: the tool ('ffmpeg' | 'ffprobe') and its arguments. */
  starts(): Array<{ tool: string; args: string[] }>;
}

/** A start that only asks ffmpeg what it has (ffmpeg/locate.ts; cached on disk per binary). */
export const isCapabilityAsk = (s: { tool: string; args: string[] }): boolean =>
  s.tool === 'ffmpeg' && s.args.length === 2 && ['-version', '-encoders', '-filters'].includes(s.args[1]!);

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

function absolute(tool: string): string {
  if (isAbsolute(tool)) return tool;
  return execFileSync('bash', ['-c', 'command -v "$1"', 'bash', tool], { encoding: 'utf8' }).trim();
}

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Writes the two wrappers; removed when the test process exits. */
export function countedTools(): CountedTools {
  const bin = mkdtempSync(join(tmpdir(), 'nommer-counted-tools-'));
  made.push(bin);
  const log = join(bin, 'starts.log');
  const wrappers: Record<string, string> = {};
  for (const [tool, real] of [
    ['ffmpeg', FFMPEG],
    ['ffprobe', FFPROBE],
  ] as const) {
    const path = join(bin, tool);
    // One line a start: the tool and its arguments joined by the unit separator (0x1f), which no
    // argument nommer gives holds, written in one append so concurrent starts do not interleave.
    writeFileSync(
      path,
      [
        '#!/bin/bash',
        '# Written by test/helpers/counted-tools.ts: logs this start, then runs the real tool.',
        `(IFS=$'\\x1f'; printf '%s\\n' "${tool}$IFS$*") >> ${quote(log)}`,
        `exec ${quote(absolute(real))} "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(path, 0o755);
    wrappers[tool] = path;
  }
  return {
    env: { NOMMER_FFMPEG: wrappers.ffmpeg!, NOMMER_FFPROBE: wrappers.ffprobe! },
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
