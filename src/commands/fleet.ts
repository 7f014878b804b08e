// `nommer fleet [--json]`: this cluster's EC2 workers with state, age and cost so far;
// `nommer fleet user-data`: the script they boot with, to inspect or to bake an AMI with.
import type { Command } from 'commander';
import { action } from '../cli/context.js';
import { formatDuration, printJson } from '../cli/output.js';
import { fleetReport, type FleetReport } from '../fleet/report.js';
import { pinnedReleaseSha256 } from '../fleet/release.js';
import { renderUserDataFor } from '../fleet/user-data.js';
import { packageVersion } from '../paths.js';

function money(usd: number | null, upperBound: boolean): string {
  if (usd === null) return '?';
  return `${upperBound ? '≤' : ''}$${usd.toFixed(usd < 10 ? 4 : 2)}`;
}

export function formatFleet(r: FleetReport): string {
  if (r.instances.length === 0) return `no workers in cluster ${r.cluster}\n`;
  const rows = [
    ['INSTANCE', 'TYPE', 'MARKET', 'STATE', 'AGE', 'COST'],
    ...r.instances.map((i) => [
      i.id,
      i.instanceType ?? '?',
      i.spot ? 'spot' : 'on-demand',
      i.ec2State,
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
    .summary('list the EC2 workers and what they cost so far')
    .description(`List this cluster's EC2 workers (tagged nommer:cluster=<aws.queuePrefix>): state, age and
the estimated cost so far, from aws.ec2.prices ($/hour by instance type; spot is shown as at most
the on-demand price). Workers end themselves after aws.ec2.idleExitSeconds without work.`)
    .action(
      action(async (ctx) => {
        const { config } = await ctx.config();
        const report = await fleetReport(config, packageVersion());
        if (ctx.global.json) printJson(report);
        else process.stdout.write(formatFleet(report));
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
