// `nommer cancel ID` and `nommer retry ID`.
import type { Command } from 'commander';
import { action } from '../cli/context.js';
import { printJson } from '../cli/output.js';
import { requireFeederd } from '../client/connect.js';

function jobAction(verb: 'cancel' | 'retry') {
  return action(async (ctx, id: string, flags: { api?: string }) => {
    const client = await requireFeederd(await ctx.config(), flags.api);
    const r = await (verb === 'cancel' ? client.cancelJob(id) : client.retryJob(id));
    if (ctx.global.json) printJson(r);
    else process.stdout.write(`${r.job.id}  ${r.job.state}\n`);
    return 0;
  });
}

export function registerCancelRetry(program: Command): void {
  program
    .command('cancel')
    .summary('cancel a job (stops ffmpeg, leaves no partial output)')
    .argument('<id>', 'job id')
    .option('--api <url>', 'feederd address')
    .action(jobAction('cancel'));
  program
    .command('retry')
    .summary('run a failed or canceled job again')
    .argument('<id>', 'job id')
    .option('--api <url>', 'feederd address')
    .action(jobAction('retry'));
}
