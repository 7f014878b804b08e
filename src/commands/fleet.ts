// `nommer fleet [--json]`: this cluster's EC2 workers with state, age and cost so far;
// `nommer fleet user-data`: the script they boot with, to inspect or to bake an AMI with.
import type { Command } from 'commander';
import { action } from '../cli/context.js';
import { formatDuration, printJson } from '../cli/output.js';
import { fleetReport, type FleetReport } from '../fleet/report.js';
import { pinnedReleaseSha256 } from '../fleet/release.js';
import { renderUserDataFor } from '../fleet/user-data.js';
import { dataPaths, packageVersion } from '../paths.js';
import { existsSync } from 'node:fs';
import { openDatabase } from '../adapters/local/db.js';
import { formatSpend, spendSummary, type Spend } from '../cost/spend.js';
import { formatUsd } from '../cost/money.js';

/** Spend so far from the data dir's store, read-only (feederd may be running); zero without one. */
export function readSpend(home: string, now = Date.now()): Spend {
  const path = dataPaths(home).db;
  const db = existsSync(path) ? openDatabase(path, { readonly: true }) : openDatabase(':memory:');
  try {
    return spendSummary(db, now);
  } finally {
    db.close();
  }
}

function money(usd: number | null, upperBound: boolean): string {
  if (usd === null) return '?';
  return `${upperBound ? '≤' : ''}${formatUsd(usd)}`;
}

export function formatFleet(r: FleetReport): string {
  if (r.instances.length === 0) return `no workers in cluster ${r.cluster}\n`;
  const rows = [
    ['INSTANCE', 'TYPE', 'MARKET', 'STATE', 'AGE', 'COST'],
    ...r.instances.map((i) => [
      i.id,
      i.instanceType ?? '?',
      i.spot ? 'spot' : 'on-demand',
      i.draining ? `${i.ec2State} (draining)` : i.ec2State,
      formatDuration(i.ageSeconds),
      money(i.costUsd, i.upperBound),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) =>
    row
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  );
  lines.push(
    `${r.instances.length} worker(s) in cluster ${r.cluster}; cost so far ${money(r.totalUsd, r.upperBound)}${r.upperBound ? ' (spot at most the on-demand price)' : ''}`,
  );
  if (r.unpriced.length > 0) lines.push(`no price for ${r.unpriced.join(', ')}: add them to aws.ec2.prices ($/hour)`);
  return `${lines.join('\n')}\n`;
}

export function registerFleet(program: Command): void {
  const cmd = program
    .command('fleet')
    .summary('list the EC2 workers, what they cost so far, and the spend today and this month')
    .description(`List this cluster's EC2 workers (tagged nommer:cluster=<aws.queuePrefix>): state, age and
the estimated cost so far, from aws.ec2.prices or the built-in price table ($/hour by instance
type; spot is shown as at most the on-demand price). Workers end themselves after aws.ec2.idleExitSeconds without work.

Then the spend so far today and this month (UTC), from the data dir's job store: the jobs'
recorded costs (a job counts on the day it finished), and the bills of the EC2 instances
feederd launched (its instance ledger: boot and idle included; an instance counts on the day it
ended, a live one up to now). With ledger instances the total is their bills, else the jobs'
costs. On the local backend there is no EC2 list, only the spend (local.costPerHour prices it).`)
    .addHelpText(
      'after',
      `
--json: the fleet report (aws) and "spend": {today, month}, each {from, usd, basis,
jobs: {count, workerSeconds, usd, unpriced}, instances: {count, usd, unattributedUsd, live, unpriced}}.

Examples:
  $ nommer fleet
  $ nommer fleet --json | jq .spend.month.usd`,
    )
    .action(
      action(async (ctx) => {
        const { config, home } = await ctx.config();
        const spend = readSpend(home);
        if (config.backend !== 'aws') {
          if (ctx.global.json) printJson({ spend });
          else
            process.stdout.write(
              `no EC2 fleet on the local backend: the workers are feederd's child processes (see \`nommer status\`)\n\n${formatSpend(spend).join('\n')}\n`,
            );
          return 0;
        }
        const report = await fleetReport(config, packageVersion());
        if (ctx.global.json) printJson({ ...report, spend });
        else process.stdout.write(`${formatFleet(report)}\n${formatSpend(spend).join('\n')}\n`);
        return 0;
      }),
    );

  cmd
    .command('user-data')
    .description(`Print the user-data script EC2 workers boot with, rendered from this config: it installs
Node, ffmpeg and this exact nommer version (from the bucket), runs \`nommer worker\` until idle, then
powers the instance off. It installs only the tarball whose SHA-256 \`nommer setup aws\` pinned (in the
data dir, or aws.ec2.releaseSha256). Run it on a builder instance with NOMMER_USERDATA_INSTALL_ONLY=1 to
bake an AMI.`)
    .action(
      action(async (ctx) => {
        const { config, home } = await ctx.config();
        const version = packageVersion();
        process.stdout.write(renderUserDataFor(config, version, pinnedReleaseSha256(config, home, version)));
        return 0;
      }),
    );
}
