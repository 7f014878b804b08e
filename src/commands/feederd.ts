// `nommer feederd [--daemon]` and `nommer feederd stop`: the orchestrator.
import type { Command } from 'commander';
import { action, intOption } from '../cli/context.js';
import { printJson } from '../cli/output.js';
import { startDaemon, stopDaemon } from '../client/daemon.js';

interface Flags {
  daemon?: boolean;
  port?: number;
  host?: string;
  workers?: number;
  shutdownGrace?: number;
}

export function registerFeederd(program: Command): void {
  const cmd = program
    .command('feederd')
    .summary('run the orchestrator (job store, API, workers)')
    .description(`Run the orchestrator: the SQLite job store, the JSON API (default 127.0.0.1:7474), the
dispatcher and the worker pool. In the foreground it logs JSON lines to stderr; with --daemon it
detaches, writing feederd.pid, feederd.log and feederd.json (its address) in the data dir
(NOMMER_HOME). Listening beyond loopback needs an API token (NOMMER_TOKEN).`)
    .option('-d, --daemon', 'run in the background')
    .option('--port <n>', 'API port (0 = any free port)', intOption('--port', 0, 65535))
    .option('--host <addr>', 'API address (default 127.0.0.1; others need a token)')
    .option(
      '-w, --workers <n>',
      'local worker processes (default: cores / 2; 0 = none, for self-managed workers)',
      intOption('--workers', 0, 256),
    )
    .option(
      '--shutdown-grace <s>',
      'seconds workers get to finish on shutdown before releasing',
      intOption('--shutdown-grace', 0, 3600),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ nommer feederd --daemon            # start in the background
  $ nommer feederd stop                # stop; in-flight jobs finish or go back to the queue
  $ NOMMER_TOKEN=$(openssl rand -hex 24) nommer feederd --host 0.0.0.0`,
    )
    .action(
      action(async (ctx, flags: Flags) => {
        const loaded = await ctx.config();
        if (flags.daemon) {
          const args: string[] = [];
          if (flags.port !== undefined) args.push('--port', String(flags.port));
          if (flags.host) args.push('--host', flags.host);
          if (flags.workers !== undefined) args.push('--workers', String(flags.workers));
          if (flags.shutdownGrace !== undefined) args.push('--shutdown-grace', String(flags.shutdownGrace));
          const d = await startDaemon(loaded, args);
          if (ctx.global.json) printJson(d);
          else process.stdout.write(`feederd running (pid ${d.pid}) at ${d.url}; log: ${d.logFile}\n`);
          return 0;
        }
        // Loaded only here: the orchestrator (fastify, SQLite) is not every command's start-up cost.
        const { runFeederd } = await import('../orchestrator/feederd.js');
        return runFeederd(loaded, {
          host: flags.host,
          port: flags.port,
          workers: flags.workers,
          shutdownGraceSeconds: flags.shutdownGrace,
        });
      }),
    );

  cmd
    .command('stop')
    .description(
      'Stop the feederd of this data dir and wait for it: running jobs finish or are released back to the queue.',
    )
    .option('--force', 'release running jobs at once instead of letting them finish')
    .option('--timeout <s>', 'seconds to wait', intOption('--timeout', 1, 86400), 120)
    .action(
      action(async (ctx, flags: { force?: boolean; timeout: number }) => {
        const { home } = await ctx.config();
        const r = await stopDaemon(home, flags.timeout * 1000, flags.force);
        if (ctx.global.json) printJson(r);
        else process.stdout.write(r.pid ? `feederd (pid ${r.pid}) stopped\n` : 'feederd is not running\n');
        return 0;
      }),
    );
}
