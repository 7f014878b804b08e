// `nommer prune [--older-than 30d] [--dry-run]`: delete finished jobs (with their tasks and
// events), dead letters and stale fences older than the cutoff from the job store file, then
// checkpoint its WAL. Works whether feederd runs or not (the file is shared through WAL).
import { InvalidArgumentError, type Command } from 'commander';
import { action } from '../cli/context.js';
import { formatBytes, printJson } from '../cli/output.js';
import { parseDuration, pruneFile } from '../orchestrator/retention.js';
import { dataPaths } from '../paths.js';

interface Flags {
  olderThan?: { text: string; ms: number };
  dryRun?: boolean;
}

function durationOption(value: string): { text: string; ms: number } {
  try {
    return { text: value, ms: parseDuration(value) };
  } catch (err) {
    // commander turns InvalidArgumentError into a usage error (exit 2)
    throw new InvalidArgumentError((err as Error).message);
  }
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

export function registerPrune(program: Command): void {
  program
    .command('prune')
    .summary('delete finished jobs, dead letters and stale fences older than a cutoff')
    .description(
      "Delete succeeded, failed and canceled jobs finished before the cutoff (with their tasks and events), dead letters older than it, and fences of jobs that no longer exist; queued and running jobs are never touched. Then checkpoint the store's WAL and say how large it was. feederd does this by itself at start and daily; this works whether it runs or not.",
    )
    .option(
      '--older-than <duration>',
      'cutoff age: 12h, 7d, 30d, 2w (s, m, h, d, w; default: retention.days from config, 30)',
      durationOption,
    )
    .option('--dry-run', 'say what would be deleted; delete nothing')
    .addHelpText(
      'after',
      `
Examples:
  $ nommer prune --dry-run
  $ nommer prune --older-than 7d
  $ nommer prune --older-than 12h --json`,
    )
    .action(
      action(async (ctx, flags: Flags) => {
        const { config, home } = await ctx.config();
        const olderThan = flags.olderThan ?? {
          text: `${config.retention.days}d`,
          ms: config.retention.days * 86_400_000,
        };
        const r = await pruneFile(dataPaths(home).db, { before: Date.now() - olderThan.ms, dryRun: flags.dryRun });
        if (ctx.global.json) {
          printJson({
            dryRun: r.dryRun,
            olderThan: olderThan.text,
            before: new Date(r.before).toISOString(),
            db: r.db,
            jobs: r.jobs,
            tasks: r.tasks,
            events: r.events,
            deadLetters: r.deadLetters,
            fences: r.fences,
            walBytes: r.walBytes,
            walBytesAfter: r.walBytesAfter,
            checkpoint: r.checkpoint,
          });
          return 0;
        }
        if (!r.exists) {
          process.stdout.write(`no job store at ${r.db}: nothing to prune\n`);
          return 0;
        }
        const what = `${plural(r.jobs, 'job')} (${plural(r.tasks, 'task')}, ${plural(r.events, 'event')}), ${plural(r.deadLetters, 'dead letter')}, ${plural(r.fences, 'stale fence')}`;
        const lines = [
          `${r.dryRun ? 'would delete' : 'deleted'} ${what} older than ${olderThan.text} (before ${new Date(r.before).toISOString()})`,
        ];
        if (!r.checkpoint)
          lines.push(`WAL: ${formatBytes(r.walBytes)} (${r.walBytes} bytes); not checkpointed (dry run)`);
        else if (r.checkpoint.busy)
          lines.push(
            `WAL: ${formatBytes(r.walBytes)} (${r.walBytes} bytes) before the checkpoint, ${formatBytes(r.walBytesAfter)} after: a reader kept it from finishing (feederd checkpoints again within 10 minutes)`,
          );
        else
          lines.push(
            `WAL: ${formatBytes(r.walBytes)} (${r.walBytes} bytes) before the checkpoint, ${formatBytes(r.walBytesAfter)} after`,
          );
        process.stdout.write(`${lines.join('\n')}\n`);
        return 0;
      }),
    );
}
