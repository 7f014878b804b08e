// The AWS settings nommer derives from its config, in one place: client settings, queue
// redrive count (so a worker sees a task's last delivery before SQS moves it aside).
import { queueDeadLetterLimit } from './jobs/deliveries.js';
import type { Config } from './config.js';
import { NommerError } from './errors.js';

export function awsSettingsOf(config: Config) {
  return { region: config.aws.region, endpoint: config.aws.endpoint, forcePathStyle: config.aws.forcePathStyle };
}

/** Deliveries before SQS dead-letters a task: one more than the worker's own limit, which is
 * jobs.maxAttempts + 1, so the worker fails the task with WORKER_LOST itself and says why. */
/** The jobs queue's RedrivePolicy maxReceiveCount (see jobs/deliveries.ts). */
export function redriveCountOf(config: Config): number {
  return queueDeadLetterLimit(config.jobs.maxAttempts);
}

export function requireBucket(config: Config): string {
  if (!config.aws.bucket)
    throw new NommerError('CONFIG_INVALID', 'aws.bucket is not set', {
      hint: 'set it in nommer.config.json ("aws": {"bucket": "..."}) or NOMMER_AWS_BUCKET',
    });
  return config.aws.bucket;
}

/** The bucket's prefixes nommer keeps for itself, as s3:// URIs: staged media, fences, releases. */
export function reservedS3Prefixes(config: Config, releasePrefix: string): string[] {
  const bucket = requireBucket(config);
  return [config.aws.stagingPrefix, config.aws.controlPrefix, releasePrefix].map((p) => `s3://${bucket}/${p}`);
}

/** Where jobs may read and write in S3: aws.allowedPrefixes, or anywhere in aws.bucket. */
export function allowedS3Prefixes(config: Config): string[] {
  // `s3://media` is the bucket media, not every bucket whose name starts with "media".
  if (config.aws.allowedPrefixes.length > 0)
    return config.aws.allowedPrefixes.map((p) => (/^s3:\/\/[^/]+$/.test(p) ? `${p}/` : p));
  return [`s3://${requireBucket(config)}/`];
}

/** The buckets jobs may use (aws.bucket and those of aws.allowedPrefixes): the ones a watch may
 * watch, whose events the ingest queue takes. */
export function jobBuckets(config: Config): string[] {
  const named = allowedS3Prefixes(config).map((p) => p.slice('s3://'.length).split('/')[0]!);
  return [...new Set([requireBucket(config), ...named])];
}
