// Small bash scripts that stand in for ffmpeg or ffprobe in a test (counted-tools.ts logs each
// start, paced-ffmpeg.ts slows encodes down), written once per run of the suite at a path that
// depends only on their text. nommer keeps an ffmpeg's capabilities per binary (path, size, change
// time: src/ffmpeg/locate.ts), so a script written afresh for every test cost each test three
// ffmpeg starts (-version, -encoders, -filters) to learn the same answers again.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** `s` as one bash word. */
export const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The full path of `tool` (as given, or found on PATH). */
export function absoluteTool(tool: string): string {
  if (isAbsolute(tool)) return tool;
  return execFileSync('bash', ['-c', 'command -v "$1"', 'bash', tool], { encoding: 'utf8' }).trim();
}

/**
 * An executable script named `name` holding `text`, in a folder under the temp dir named by the
 * text's hash: the same script is the same file for every test file of a run (and the next run).
 * Written only when missing or different, whole, then renamed into place, so test files running in
 * parallel never see half of one. Left there: the next test that asks for it finds it.
 */
export function sharedScript(name: string, text: string): string {
  const key = createHash('sha256')
    .update(JSON.stringify([name, text]))
    .digest('hex')
    .slice(0, 12);
  const dir = join(tmpdir(), `nommer-tool-scripts-${key}`);
  const path = join(dir, name);
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return path;
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  chmodSync(tmp, 0o755);
  renameSync(tmp, path);
  return path;
}
