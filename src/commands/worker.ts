// `nommer worker`: take tasks from the queue and encode them (what feederd starts locally and
// EC2 user-data starts in the cloud).
import type { Command } from 'commander';
import { action, intOption } from '../cli/context.js';
import { NommerError } from '../errors.js';

interface Flags {
  backend?: 'local' | 'aws';
  once?: boolean;
  idleExit?: number;
  concurrency?: number;
  id?: string;
  parentPid?: number;
  shutdownGrace?: number;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .summary('take tasks from the queue and encode them')
    .description(`Lease tasks from the queue (local: the data dir's database; aws: SQS), fetch inputs,
encode, store outputs, report status, repeat. SIGTERM finishes the current task (a second
SIGTERM releases it back to the queue).`)
    .option('--backend <name>', 'local or aws (default: config)')
    .option('--once', 'exit after one task')
    .option('--idle-exit <s>', 'exit after this many seconds without work', intOption('--idle-exit', 1, 86400 * 7))
    .option('--concurrency <n>', 'tasks at once', intOption('--concurrency', 1, 64), 1)
    .option('--id <id>', 'worker id in status and logs (default: host name + random)')
    .option(
      '--parent-pid <pid>',
      'stop (after the current task) when this process is gone',
      intOption('--parent-pid', 1),
    )
    .option(
      '--shutdown-grace <s>',
      'after SIGTERM, seconds to finish the task before releasing it',
      intOption('--shutdown-grace', 0, 86400),
    )
    .action(
      action(async (ctx, flags: Flags) => {
        const loaded = await ctx.config();
        if (flags.backend) {
          if (flags.backend !== 'local' && flags.backend !== 'aws')
            throw new NommerError('USAGE', `--backend must be local or aws, got ${JSON.stringify(flags.backend)}`);
          loaded.config.backend = flags.backend;
        }
        const { runWorker } = await import('../worker/main.js');
        return runWorker(loaded, {
          id: flags.id,
          once: flags.once,
          idleExitSeconds: flags.idleExit,
          concurrency: flags.concurrency,
          parentPid: flags.parentPid,
          shutdownGraceSeconds: flags.shutdownGrace,
        });
      }),
    );
}
