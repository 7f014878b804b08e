// The CLI entry: builds the commander program from one file per command and runs it.
// Exit codes: 0 ok, 1 a job or operation failed, 2 usage or config error.
import './zod-setup.js';
import { Command, CommanderError } from 'commander';
import { printable } from './api/format.js';
import { packageVersion } from './paths.js';
import { loadCommands, registerCommands, type Register } from './commands/index.js';

/** The program with the given commands registered (main loads only those argv needs). */
export function buildProgram(commands: Register[] = []): Command {
  const program = new Command('nommer');
  program
    .description(
      'Encode video and audio to royalty-free formats (WebM VP9/VP8/AV1 + Opus/Vorbis, Ogg Theora, Opus, WebP)\non this machine, or on EC2 workers that nommer starts and stops itself.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--json', 'machine-readable output (JSON) for scripts')
    .option('-q, --quiet', 'print only results and errors')
    .option('-c, --config <file>', 'config file (default: nommer.config.* / .nommerrc* searched from here up)')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride()
    // Commander's own errors quote what was typed: no control character reaches the terminal.
    .configureOutput({ outputError: (text, write) => write(printable(text, { keepNewlines: true })) })
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    .addHelpText(
      'after',
      `
Examples:
  $ nommer encode talk.mov                       # talk.webm (VP9 + Opus) beside it
  $ nommer encode talk.mov --preset av1 --preset poster
  $ nommer submit *.mov --preset webm            # queue them; follow progress live
  $ nommer status                                # jobs and workers at a glance
  $ nommer presets                               # what each preset makes
  $ nommer doctor                                # which ffmpeg, which encoders

Environment: NOMMER_HOME (data dir), NOMMER_FFMPEG, NOMMER_API, NOMMER_TOKEN. See README.`,
    );
  registerCommands(program, commands);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram(await loadCommands(argv));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return 0;
      return 2;
    }
    throw err;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
