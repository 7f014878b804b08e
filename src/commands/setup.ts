// `nommer setup aws`: create (or check) the bucket and queues, print the IAM policies.
import type { Command } from 'commander';
import type { IamPolicies, SetupReport } from '../adapters/aws/setup.js';
import { action, type CommandContext } from '../cli/context.js';
import { printJson } from '../cli/output.js';
import { allowedS3Prefixes, awsSettingsOf, jobBuckets, redriveCountOf, requireBucket } from '../aws-settings.js';
import { packageVersion } from '../paths.js';

export function registerSetup(program: Command): void {
  const setup = program.command('setup').summary('prepare a backend (aws: bucket, queues, IAM policies)');
  setup
    .command('aws')
    .description(`Create the S3 bucket and the SQS queues (<prefix>-jobs with a dead-letter queue,
<prefix>-status, <prefix>-dlq, and <prefix>-ingest, where watched buckets send their new objects'
events) if they are missing, or check them; safe to run again (the second run changes nothing), with lifecycle rules that abort incomplete uploads and expire the staging
prefix. Publishes this nommer version for EC2 workers and pins its SHA-256 in the data dir (workers
install nothing else). Prints the least-privilege IAM policies: for running this setup, for feederd
and for workers.`)
    .option('-n, --dry-run', 'say what would be done; change nothing')
    .option('--policies-only', 'only print the IAM policies')
    .option('--no-release', 'do not upload this nommer version for EC2 workers (self-managed workers)')
    .addHelpText(
      'after',
      `
Examples:
  $ nommer setup aws --dry-run
  $ NOMMER_AWS_BUCKET=my-encodes nommer setup aws --json`,
    )
    .action(action(setupAwsAction));
}

interface SetupFlags {
  dryRun?: boolean;
  policiesOnly?: boolean;
  release?: boolean;
  noRelease?: boolean;
}

async function setupAwsAction(ctx: CommandContext, flags: SetupFlags): Promise<number> {
  flags.noRelease = flags.release === false;
  const { config, home } = await ctx.config();
  const bucket = requireBucket(config);
  const settings = awsSettingsOf(config);
  const { setupAws, iamPolicies } = await import('../adapters/aws/setup.js');
  const policies = iamPolicies(settings, {
    bucket,
    queuePrefix: config.aws.queuePrefix,
    stagingPrefix: config.aws.stagingPrefix,
    controlPrefix: config.aws.controlPrefix,
    clusterTag: { key: 'nommer:cluster', value: config.aws.queuePrefix },
    allowedPrefixes: config.aws.allowedPrefixes.length > 0 ? allowedS3Prefixes(config) : [],
  });
  if (flags.policiesOnly) {
    printJson(policies);
    return 0;
  }
  const report = await setupAws(settings, {
    bucket,
    queuePrefix: config.aws.queuePrefix,
    dryRun: flags.dryRun,
    maxReceiveCount: redriveCountOf(config),
    stagingPrefix: config.aws.stagingPrefix,
    eventBuckets: jobBuckets(config),
  });
  const release = !flags.dryRun && !flags.noRelease ? await publishForWorkers(settings, bucket, home) : undefined;
  if (ctx.global.json) {
    printJson({ ...report, release: release?.uri ?? null, releaseSha256: release?.sha256 ?? null, policies });
    return 0;
  }
  printSetup(report, release, policies);
  return 0;
}

/**
 * This nommer, published to the bucket for EC2 workers and its SHA-256 pinned in the data dir:
 * workers install exactly this version (same message version as feederd), and only the tarball
 * whose SHA-256 is pinned here.
 */
async function publishForWorkers(
  settings: ReturnType<typeof awsSettingsOf>,
  bucket: string,
  home: string,
): Promise<{ uri: string; sha256: string }> {
  const { publishRelease, pinRelease } = await import('../fleet/release.js');
  const { S3Storage } = await import('../adapters/aws/s3-storage.js');
  const { s3Client } = await import('../adapters/aws/clients.js');
  const published = await publishRelease(new S3Storage({ client: s3Client(settings) }), bucket, packageVersion());
  await pinRelease(home, published);
  return { uri: published.uri, sha256: published.sha256 };
}

/** The setup's human report: the release, each resource's action, then the three IAM policies. */
function printSetup(
  report: SetupReport,
  release: { uri: string; sha256: string } | undefined,
  policies: IamPolicies,
): void {
  if (release)
    process.stdout.write(
      `published    nommer ${packageVersion()} for EC2 workers: ${release.uri}\n             sha256 ${release.sha256} (pinned in this data dir; for a feederd elsewhere set aws.ec2.releaseSha256)\n`,
    );
  for (const i of report.items) {
    process.stdout.write(
      `${i.action.padEnd(12)} ${i.kind} ${i.name}${i.changes?.length ? `  (${i.changes.join('; ')})` : ''}\n`,
    );
    for (const n of i.notes ?? []) process.stdout.write(`             note: ${n}\n`);
  }
  process.stdout.write(
    `\nIAM policy for running \`nommer setup aws\`:\n${JSON.stringify(policies.setup, null, 2)}\n\nIAM policy for feederd:\n${JSON.stringify(policies.orchestrator, null, 2)}\n\nIAM policy for workers (instance profile):\n${JSON.stringify(policies.worker, null, 2)}\n`,
  );
}
