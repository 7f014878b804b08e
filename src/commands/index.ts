// Every command, registered on the program in the order `--help` shows them. Each command's
// module (and all it imports: SQLite, the HTTP server, the TUI, the AWS SDK) is loaded only when
// that command runs: `nommer encode` spent ~0.3 CPU-s importing the other twelve.
import type { Command } from 'commander';

export type Register = (program: Command) => void;

/** Each command module's registrar, by the command names it registers, in `--help` order. */
const COMMANDS: Array<[names: string[], load: () => Promise<Register>]> = [
  [['submit'], async () => (await import('./submit.js')).registerSubmit],
  [['watch'], async () => (await import('./watch.js')).registerWatch],
  [['encode'], async () => (await import('./encode.js')).registerEncode],
  [['status'], async () => (await import('./status.js')).registerStatus],
  [['dashboard'], async () => (await import('./dashboard.js')).registerDashboard],
  [['cancel', 'retry'], async () => (await import('./cancel.js')).registerCancelRetry],
  [['prune'], async () => (await import('./prune.js')).registerPrune],
  [['presets'], async () => (await import('./presets.js')).registerPresets],
  [['doctor'], async () => (await import('./doctor.js')).registerDoctor],
  [['setup'], async () => (await import('./setup.js')).registerSetup],
  [['feederd'], async () => (await import('./feederd.js')).registerFeederd],
  [['worker'], async () => (await import('./worker.js')).registerWorker],
  [['fleet'], async () => (await import('./fleet.js')).registerFleet],
];

/** The first argument past the global options (process.argv: node, script, args…). */
function firstWord(argv: string[]): string | undefined {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json' || a === '-q' || a === '--quiet' || a.startsWith('--config=')) continue;
    if (a === '-c' || a === '--config') {
      i++;
      continue;
    }
    return a;
  }
  return undefined;
}

/**
 * The command argv names, past the global options; undefined when it names none for certain
 * (help, a typo, an option we do not know the arity of).
 */
export function commandNamed(argv: string[]): string | undefined {
  const a = firstWord(argv);
  if (a === undefined || a.startsWith('-')) return undefined;
  return COMMANDS.some(([names]) => names.includes(a)) ? a : undefined;
}

/**
 * The registrars argv needs: only the named command's when it names one, none for the version
 * (commander prints it on meeting the option, before it looks at a command), else every command
 * (for --help, `help X` and did-you-mean suggestions).
 */
export async function loadCommands(argv: string[]): Promise<Register[]> {
  const first = firstWord(argv);
  if (first === '-V' || first === '--version') return [];
  const name = commandNamed(argv);
  const wanted = name ? COMMANDS.filter(([names]) => names.includes(name)) : COMMANDS;
  return Promise.all(wanted.map(([, load]) => load()));
}

export function registerCommands(program: Command, registers: Register[]): void {
  for (const register of registers) register(program);
}
