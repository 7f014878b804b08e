// Which kind of progress a following command prints: the Ink view only on a real terminal; plain
// lines (no escape codes) for pipes, CI and TERM=dumb; JSON lines with --json; nothing with --quiet.

export type OutputMode = 'tui' | 'plain' | 'json' | 'quiet';

/** The CI check Ink itself makes (in CI, Ink draws only the last frame, so a live view is moot). */
export function isCi(env: NodeJS.ProcessEnv): boolean {
  if (env.CI === '0' || env.CI === 'false') return false;
  return 'CI' in env || 'CONTINUOUS_INTEGRATION' in env || Object.keys(env).some((k) => k.startsWith('CI_'));
}

export function chooseOutputMode(
  flags: { json?: boolean; quiet?: boolean },
  stdout: { isTTY?: boolean } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): OutputMode {
  if (flags.json) return 'json';
  if (flags.quiet) return 'quiet';
  if (stdout.isTTY && env.TERM !== 'dumb' && !isCi(env)) return 'tui';
  return 'plain';
}
