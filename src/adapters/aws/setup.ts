// `nommer setup aws`: creates, or checks, the bucket and the queues (jobs, status, dlq, and the
// ingest queue watched buckets send their created-events to), idempotently. A second run finds
// everything and changes nothing; a queue whose settings drifted is put back; a dry run only reads.
// Also writes the least-privilege IAM policies (setup, orchestrator, worker).
import { DRAIN_TAG } from '../../fleet/drain.js';
import { RELEASE_PREFIX } from '../../fleet/release.js';
import {
  CreateBucketCommand,
  GetBucketLifecycleConfigurationCommand,
  HeadBucketCommand,
  PutBucketLifecycleConfigurationCommand,
  PutPublicAccessBlockCommand,
  type LifecycleRule,
  type BucketLocationConstraint,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { NommerError } from '../../errors.js';
import { s3Client, sqsClient, type AwsSettings } from './clients.js';
import { awsCall, isQueueMissing, wrapAwsError } from './errors.js';
import { ingestQueueName, queueNames, type QueueUrls } from './queues.js';
import { isDeepStrictEqual } from 'node:util';
import * as z from 'zod';

export interface SetupOptions {
  bucket: string;
  queuePrefix: string;
  /** Only report what would be done. */
  dryRun?: boolean;
  /** Deliveries of a job message before SQS moves it to the DLQ (default 3). */
  maxReceiveCount?: number;
  /** Default lease of the jobs queue, s (default 120). Workers set their own per receive. */
  jobsVisibilitySeconds?: number;
  /** Where feederd stages local inputs and outputs (default `nommer-staging/`): expired by a
   * lifecycle rule after STAGING_EXPIRE_DAYS, so what a crash leaves there stops costing. */
  stagingPrefix?: string;
  /** Buckets whose created-events the ingest queue takes (`nommer watch add s3://…`): the
   * buckets of aws.allowedPrefixes, and `bucket` (default: `bucket` alone). */
  eventBuckets?: string[];
  /** Clients to use instead of building them from settings (tests, shared clients). */
  clients?: { s3?: S3Client; sqs?: SQSClient };
}

export type SetupAction = 'created' | 'exists' | 'updated' | 'would-create' | 'would-update';

export interface SetupItem {
  kind: 'bucket' | 'queue';
  name: string;
  action: SetupAction;
  url?: string;
  /** Attributes that were (or would be) changed, as `Name: old -> new`. */
  changes?: string[];
  /** Things worth knowing that setup deliberately leaves alone. */
  notes?: string[];
}

export interface SetupReport {
  dryRun: boolean;
  items: SetupItem[];
  /** Present unless a dry run found a queue missing. */
  queueUrls?: QueueUrls;
}

/** SQS's real limit; moto defaults to 1 MiB, so setting it keeps tests honest too. */
const MAX_MESSAGE_SIZE = '262144';
/** 14 days, SQS's maximum: jobs may wait out a long fleet outage, and the DLQ must keep
 * messages at least as long as the source queue (a moved message keeps its original age). */
const RETENTION_SECONDS = '1209600';
/** Incomplete multipart uploads (a worker killed mid-upload) cost money until aborted. */
const ABORT_UPLOADS_AFTER_DAYS = 1;
/** Staged inputs and outputs are removed when their job ends; a crash can leave some behind.
 * One day more than the queues keep a message, so a job still waiting never loses its input. */
export const STAGING_EXPIRE_DAYS = 15;
const ABORT_RULE_ID = 'nommer-abort-incomplete-uploads';
const STAGING_RULE_ID = 'nommer-expire-staging';

export async function setupAws(settings: AwsSettings, opts: SetupOptions): Promise<SetupReport> {
  const maxReceiveCount = opts.maxReceiveCount ?? 3;
  if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
    throw new NommerError('CONFIG_INVALID', `maxReceiveCount must be a whole number 1–1000, got ${maxReceiveCount}`);
  }
  if (!opts.bucket)
    throw new NommerError('CONFIG_INVALID', 'no bucket given', { hint: 'set aws.bucket in the config' });
  if (!/^[A-Za-z0-9_-]{1,70}$/.test(opts.queuePrefix)) {
    throw new NommerError('CONFIG_INVALID', `queue prefix "${opts.queuePrefix}" must be 1–70 letters, digits, - or _`);
  }
  const s3 = opts.clients?.s3 ?? s3Client(settings);
  const sqs = opts.clients?.sqs ?? sqsClient(settings);
  const dryRun = !!opts.dryRun;
  const names = queueNames(opts.queuePrefix);

  const items: SetupItem[] = [await ensureBucket(s3, opts.bucket, opts.stagingPrefix ?? 'nommer-staging/', dryRun)];

  const dlq = await ensureQueue(
    sqs,
    names.dlq,
    () => ({
      MaximumMessageSize: MAX_MESSAGE_SIZE,
      MessageRetentionPeriod: RETENTION_SECONDS,
    }),
    dryRun,
  );
  items.push(dlq.item);

  const jobs = await ensureQueue(
    sqs,
    names.jobs,
    (ownArn) => ({
      MaximumMessageSize: MAX_MESSAGE_SIZE,
      MessageRetentionPeriod: RETENTION_SECONDS,
      VisibilityTimeout: String(opts.jobsVisibilitySeconds ?? 120),
      RedrivePolicy: JSON.stringify({
        // In a dry run the DLQ may not exist yet: its ARN is the jobs queue's with the other name.
        deadLetterTargetArn: dlq.arn ?? ownArn?.replace(/[^:]+$/, names.dlq) ?? `(arn of ${names.dlq})`,
        maxReceiveCount,
      }),
    }),
    dryRun,
  );
  items.push(jobs.item);

  const status = await ensureQueue(
    sqs,
    names.status,
    () => ({
      MaximumMessageSize: MAX_MESSAGE_SIZE,
      MessageRetentionPeriod: RETENTION_SECONDS,
      VisibilityTimeout: '60',
    }),
    dryRun,
  );
  items.push(status.item);

  items.push((await ensureIngestQueue(sqs, opts, dryRun)).item);

  const queueUrls =
    jobs.url && status.url && dlq.url ? { jobs: jobs.url, status: status.url, dlq: dlq.url } : undefined;
  return { dryRun, items, queueUrls };
}

/**
 * The queue a watched bucket's ObjectCreated events go to (S3 sends them; the queue's policy
 * lets it). Not dead-lettered: feederd settles every event itself, and the DLQ holds task
 * messages only.
 */
function ensureIngestQueue(sqs: SQSClient, opts: SetupOptions, dryRun: boolean): Promise<EnsuredQueue> {
  const eventBuckets = [...new Set([opts.bucket, ...(opts.eventBuckets ?? [])])];
  return ensureQueue(
    sqs,
    ingestQueueName(opts.queuePrefix),
    (ownArn) => ({
      MaximumMessageSize: MAX_MESSAGE_SIZE,
      MessageRetentionPeriod: RETENTION_SECONDS,
      VisibilityTimeout: '60',
      ...(ownArn ? { Policy: ingestQueuePolicy(ownArn, eventBuckets) } : {}),
    }),
    dryRun,
  );
}

async function ensureBucket(s3: S3Client, bucket: string, stagingPrefix: string, dryRun: boolean): Promise<SetupItem> {
  const resource = `s3://${bucket}`;
  let exists = true;
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 403) {
      // A HEAD answer has no body, so 403 can't tell "someone else's bucket" from "your
      // credentials or policy are wrong": name every cause.
      throw new NommerError('STORAGE_DENIED', `bucket ${bucket}: access denied (HTTP 403)`, {
        cause: err,
        hint: 'the bucket may belong to another account (names are global: choose another aws.bucket), or these credentials are wrong or lack s3:ListBucket on it',
      });
    }
    if (status !== 404)
      throw wrapAwsError(err, { service: 's3', operation: 'HeadBucket', resource, iamAction: 's3:ListBucket' });
    exists = false;
  }
  if (!exists) {
    if (dryRun) return { kind: 'bucket', name: bucket, action: 'would-create' };
    await createBucket(s3, bucket, resource);
    await awsCall(
      { service: 's3', operation: 'PutPublicAccessBlock', resource, iamAction: 's3:PutBucketPublicAccessBlock' },
      () =>
        s3.send(
          new PutPublicAccessBlockCommand({
            Bucket: bucket,
            PublicAccessBlockConfiguration: {
              BlockPublicAcls: true,
              IgnorePublicAcls: true,
              BlockPublicPolicy: true,
              RestrictPublicBuckets: true,
            },
          }),
        ),
    );
  }
  const lifecycle = await ensureLifecycle(s3, bucket, resource, stagingPrefix, exists, dryRun);
  if (!exists) return { kind: 'bucket', name: bucket, action: 'created', notes: lifecycle.notes };
  if (lifecycle.changes.length === 0) return { kind: 'bucket', name: bucket, action: 'exists', notes: lifecycle.notes };
  return {
    kind: 'bucket',
    name: bucket,
    action: dryRun ? 'would-update' : 'updated',
    changes: lifecycle.changes,
    notes: lifecycle.notes,
  };
}

async function createBucket(s3: S3Client, bucket: string, resource: string): Promise<void> {
  const region = await s3.config.region();
  try {
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        // us-east-1 is the one region that rejects its own name as a location constraint.
        ...(region && region !== 'us-east-1'
          ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }
          : {}),
      }),
    );
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'BucketAlreadyOwnedByYou') return;
    if (name === 'BucketAlreadyExists')
      throw new NommerError('CONFIG_INVALID', `bucket name ${bucket} is taken by another account`, {
        cause: err,
        hint: 'bucket names are global: choose another aws.bucket',
      });
    throw wrapAwsError(err, { service: 's3', operation: 'CreateBucket', resource });
  }
}

/** nommer's two lifecycle rules: abort incomplete uploads, expire the staging prefix. */
function nommerRules(stagingPrefix: string): LifecycleRule[] {
  return [
    {
      ID: ABORT_RULE_ID,
      Status: 'Enabled',
      Filter: { Prefix: '' },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_UPLOADS_AFTER_DAYS },
    },
    {
      ID: STAGING_RULE_ID,
      Status: 'Enabled',
      Filter: { Prefix: stagingPrefix },
      Expiration: { Days: STAGING_EXPIRE_DAYS },
    },
  ];
}

/**
 * Adds nommer's lifecycle rules the bucket lacks (by rule id), keeping every rule it has:
 * PutBucketLifecycleConfiguration replaces the whole set, so the owner's rules are read first
 * and written back unchanged. A bucket whose rules can't be read is left alone, with a note.
 */
async function ensureLifecycle(
  s3: S3Client,
  bucket: string,
  resource: string,
  stagingPrefix: string,
  existed: boolean,
  dryRun: boolean,
): Promise<{ changes: string[]; notes?: string[] }> {
  let current: LifecycleRule[] = [];
  if (existed) {
    try {
      current = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name !== 'NoSuchLifecycleConfiguration') {
        return {
          changes: [],
          notes: [
            `could not read the bucket's lifecycle rules (${name ?? 'error'}); add rules that abort incomplete multipart uploads after ${ABORT_UPLOADS_AFTER_DAYS} day and expire ${stagingPrefix} after ${STAGING_EXPIRE_DAYS} days`,
          ],
        };
      }
    }
  }
  const have = new Set(current.map((r) => r.ID));
  const missing = nommerRules(stagingPrefix).filter((r) => !have.has(r.ID));
  const changes = missing.map((r) =>
    r.ID === ABORT_RULE_ID
      ? `lifecycle: abort incomplete multipart uploads after ${ABORT_UPLOADS_AFTER_DAYS} day`
      : `lifecycle: expire ${stagingPrefix} after ${STAGING_EXPIRE_DAYS} days`,
  );
  if (missing.length > 0 && !dryRun) {
    await awsCall(
      {
        service: 's3',
        operation: 'PutBucketLifecycleConfiguration',
        resource,
        iamAction: 's3:PutLifecycleConfiguration',
      },
      () =>
        s3.send(
          new PutBucketLifecycleConfigurationCommand({
            Bucket: bucket,
            LifecycleConfiguration: { Rules: [...current, ...missing] },
          }),
        ),
    );
  }
  // A new bucket's rules are part of "created", not changes to report.
  return existed ? { changes } : { changes: [], notes: changes.map((c) => c.replace(/^lifecycle: /, '')) };
}

interface EnsuredQueue {
  item: SetupItem;
  url?: string;
  arn?: string;
}

type Attributes = Record<string, string>;

/** A queue's RedrivePolicy attribute (JSON; SQS gives the count back as a string). */
const redrivePolicy = z.looseObject({
  deadLetterTargetArn: z.string().optional(),
  maxReceiveCount: z.union([z.number(), z.string()]).optional(),
});

/** Equal as SQS means it: numbers as strings, RedrivePolicy as JSON whose count may be a string. */
function sameAttribute(name: string, actual: string | undefined, wanted: string): boolean {
  if (actual === undefined) return false;
  if (name === 'Policy') {
    try {
      return isDeepStrictEqual(JSON.parse(actual), JSON.parse(wanted));
    } catch {
      return false;
    }
  }
  if (name === 'RedrivePolicy') {
    try {
      const a = redrivePolicy.parse(JSON.parse(actual));
      const w = redrivePolicy.parse(JSON.parse(wanted));
      return a.deadLetterTargetArn === w.deadLetterTargetArn && Number(a.maxReceiveCount) === Number(w.maxReceiveCount);
    } catch {
      return false;
    }
  }
  return actual === wanted;
}

async function ensureQueue(
  sqs: SQSClient,
  name: string,
  wanted: (ownArn?: string) => Attributes,
  dryRun: boolean,
): Promise<EnsuredQueue> {
  const ctx = (operation: string) => ({ service: 'sqs' as const, operation, resource: name });
  let url: string | undefined;
  try {
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (err) {
    if (!isQueueMissing(err)) throw wrapAwsError(err, ctx('GetQueueUrl'));
  }

  if (!url) {
    if (dryRun) return { item: { kind: 'queue', name, action: 'would-create' } };
    const created = await awsCall(ctx('CreateQueue'), () =>
      sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: wanted() })),
    );
    url = created.QueueUrl!;
    const arn = await queueArn(sqs, url, name);
    // What names the queue's own ARN (a policy) is set once the ARN is known.
    const first = wanted();
    const later = Object.fromEntries(Object.entries(wanted(arn)).filter(([k]) => !(k in first)));
    if (Object.keys(later).length > 0)
      await awsCall(ctx('SetQueueAttributes'), () =>
        sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: later })),
      );
    return { item: { kind: 'queue', name, action: 'created', url }, url, arn };
  }

  const current =
    ((
      await awsCall(ctx('GetQueueAttributes'), () =>
        sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })),
      )
    ).Attributes as Attributes | undefined) ?? {};
  const desired = wanted(current.QueueArn);
  const changed: Attributes = {};
  const changes: string[] = [];
  for (const [k, v] of Object.entries(desired)) {
    if (!sameAttribute(k, current[k], v)) {
      changed[k] = v;
      changes.push(`${k}: ${current[k] ?? '(unset)'} -> ${v}`);
    }
  }
  if (changes.length === 0) return { item: { kind: 'queue', name, action: 'exists', url }, url, arn: current.QueueArn };
  if (dryRun)
    return { item: { kind: 'queue', name, action: 'would-update', url, changes }, url, arn: current.QueueArn };
  await awsCall(ctx('SetQueueAttributes'), () =>
    sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: changed })),
  );
  return { item: { kind: 'queue', name, action: 'updated', url, changes }, url, arn: current.QueueArn };
}

async function queueArn(sqs: SQSClient, url: string, name: string): Promise<string> {
  const out = await awsCall({ service: 'sqs', operation: 'GetQueueAttributes', resource: name }, () =>
    sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })),
  );
  return out.Attributes!.QueueArn!;
}

/**
 * The ingest queue's policy: S3 may send it the events of these buckets, when they belong to the
 * queue's own account (a bucket name is global: another account's bucket of that name may not).
 */
export function ingestQueuePolicy(queueArn: string, buckets: string[]): string {
  const [, partition, , , account] = queueArn.split(':');
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'WatchedBucketEvents',
        Effect: 'Allow',
        Principal: { Service: 's3.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: {
          ArnLike: { 'aws:SourceArn': buckets.map((b) => `arn:${partition}:s3:::${b}`) },
          StringEquals: { 'aws:SourceAccount': account },
        },
      },
    ],
  });
}

// ---- IAM policies ---------------------------------------------------------------------------

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export interface PolicyOptions {
  bucket: string;
  queuePrefix: string;
  /** Account id for the ARNs (default `*`: any account, still scoped by name). */
  accountId?: string;
  /** `aws`, `aws-cn`, `aws-us-gov` (default `aws`). */
  partition?: string;
  /** Where the orchestrator stages local inputs in the bucket (default `nommer-staging/`). */
  stagingPrefix?: string;
  /** Where the orchestrator keeps the fences workers read (default `nommer-control/`). */
  controlPrefix?: string;
  /** The role the workers' instance profile carries, which the orchestrator passes to EC2
   * (default `<queuePrefix>-worker`). */
  workerRoleName?: string;
  /** When set, the orchestrator may only terminate instances carrying this tag. */
  clusterTag?: { key: string; value: string };
  /** aws.allowedPrefixes (s3://bucket/prefix): where jobs read and write. Default: the whole bucket. */
  allowedPrefixes?: string[];
}

export interface IamPolicies {
  /** For whoever runs `nommer setup aws` (an administrator, once per cluster and release). */
  setup: PolicyDocument;
  /** For feederd. */
  orchestrator: PolicyDocument;
  /** For the EC2 workers' instance profile. */
  worker: PolicyDocument;
}

/** What the three policies are written of: ARNs and prefixes from the settings and the options. */
interface PolicyContext {
  opts: PolicyOptions;
  partition: string;
  region: string;
  account: string;
  names: ReturnType<typeof queueNames>;
  ingest: string;
  queue: (name: string) => string;
  bucketArn: string;
  staging: string;
  control: string;
  role: string;
  /** aws.allowedPrefixes as object ARNs (a trailing * as IAM matches keys) and their buckets. */
  allowed: Array<{ bucket: string; objects: string }>;
  jobObjects: string[];
  jobBuckets: string[];
}

function policyContext(settings: AwsSettings, opts: PolicyOptions): PolicyContext {
  const partition = opts.partition ?? 'aws';
  const region = settings.region ?? process.env.AWS_REGION ?? '*';
  const account = opts.accountId ?? '*';
  const names = queueNames(opts.queuePrefix);
  const ingest = ingestQueueName(opts.queuePrefix);
  const queue = (name: string) => `arn:${partition}:sqs:${region}:${account}:${name}`;
  const bucketArn = `arn:${partition}:s3:::${opts.bucket}`;
  const staging = opts.stagingPrefix ?? 'nommer-staging/';
  const control = opts.controlPrefix ?? 'nommer-control/';
  const role = `arn:${partition}:iam::${account}:role/${opts.workerRoleName ?? `${opts.queuePrefix}-worker`}`;
  const allowed = (opts.allowedPrefixes ?? []).map((uri) => {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
    if (!m) throw new NommerError('CONFIG_INVALID', `aws.allowedPrefixes: not an S3 location: ${uri}`);
    return { bucket: `arn:${partition}:s3:::${m[1]}`, objects: `arn:${partition}:s3:::${m[1]}/${m[2]}*` };
  });
  const jobObjects = allowed.length > 0 ? [...new Set(allowed.map((a) => a.objects))] : [`${bucketArn}/*`];
  const jobBuckets = [...new Set([bucketArn, ...allowed.map((a) => a.bucket)])];

  return {
    opts,
    partition,
    region,
    account,
    names,
    ingest,
    queue,
    bucketArn,
    staging,
    control,
    role,
    allowed,
    jobObjects,
    jobBuckets,
  };
}

/** Three least-privilege policies: what `nommer setup aws` needs, what feederd needs, and what an EC2 worker needs. */
export function iamPolicies(settings: AwsSettings, opts: PolicyOptions): IamPolicies {
  const c = policyContext(settings, opts);
  return { setup: setupPolicy(c), orchestrator: orchestratorPolicy(c), worker: workerPolicy(c) };
}

/** feederd's: its queues, staging, fences, taking back late outputs, bucket events, and the fleet. */
function orchestratorPolicy(c: PolicyContext): PolicyDocument {
  const {
    partition,
    region,
    account,
    names,
    ingest,
    queue,
    bucketArn,
    staging,
    control,
    role,
    jobObjects,
    jobBuckets,
    opts,
  } = c;
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'SendJobs', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: queue(names.jobs) },
      // ChangeMessageVisibility: an event that could not be applied is released for redelivery.
      {
        Sid: 'ReadStatus',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
        Resource: queue(names.status),
      },
      // Poison status events are dead-lettered; dead-lettered task messages are applied and removed (watchdog).
      {
        Sid: 'DeadLetters',
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage'],
        Resource: queue(names.dlq),
      },
      {
        Sid: 'QueueDepths',
        Effect: 'Allow',
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
        Resource: [queue(names.jobs), queue(names.status), queue(names.dlq)],
      },
      {
        Sid: 'StageInputs',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
        Resource: `${bucketArn}/${staging}*`,
      },
      // Taking back an output committed after its job was canceled or failed (late-outputs.ts):
      // GetObject reads a package's index and the identity (HEAD) of what is removed. Also the
      // identity (HEAD: version, ETag) of the object a watched prefix's event names.
      {
        Sid: 'TakeBackLateOutputs',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:DeleteObject'],
        Resource: jobObjects,
      },
      // Whatever feederd is made to remove, never the release every instance installs or a fence.
      {
        Sid: 'NeverDeleteReleasesOrFences',
        Effect: 'Deny',
        Action: ['s3:DeleteObject'],
        Resource: [`${bucketArn}/${RELEASE_PREFIX}*`, `${bucketArn}/${control}*`],
      },
      // Without ListBucket a HEAD on a missing key answers 403 instead of 404.
      {
        Sid: 'ListStaging',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: bucketArn,
        Condition: { StringLike: { 's3:prefix': [`${staging}*`, `${control}*`] } },
      },
      // Fences: feederd raises them (read, raise, write one object per job); workers only read.
      {
        Sid: 'WriteFences',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject'],
        Resource: `${bucketArn}/${control}*`,
      },
      // Watched S3 prefixes (`nommer watch add s3://…`): a route in the bucket's event
      // notifications sends created-events to the ingest queue (the configuration is read and
      // written back with the route added or removed), and feederd takes them off that queue.
      {
        Sid: 'RouteBucketEvents',
        Effect: 'Allow',
        Action: ['s3:GetBucketNotification', 's3:PutBucketNotification'],
        Resource: jobBuckets.length === 1 ? jobBuckets[0]! : jobBuckets,
      },
      {
        Sid: 'TakeBucketEvents',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
        Resource: queue(ingest),
      },
      { Sid: 'LaunchWorkers', Effect: 'Allow', Action: ['ec2:RunInstances'], Resource: '*' },
      {
        Sid: 'TagOnLaunch',
        Effect: 'Allow',
        Action: ['ec2:CreateTags'],
        Resource: `arn:${partition}:ec2:${region}:${account}:*/*`,
        Condition: { StringEquals: { 'ec2:CreateAction': ['RunInstances'] } },
      },
      {
        Sid: 'StopWorkers',
        Effect: 'Allow',
        Action: ['ec2:TerminateInstances'],
        Resource: `arn:${partition}:ec2:${region}:${account}:instance/*`,
        ...(opts.clusterTag
          ? { Condition: { StringEquals: { [`aws:ResourceTag/${opts.clusterTag.key}`]: opts.clusterTag.value } } }
          : {}),
      },
      // Scale-in by draining: only the drain tag, never another (not the cluster tag), on workers.
      // Null: a DeleteTags that names no tag deletes them all, and ForAllValues over the keys of
      // such a request (none) holds; the request must name its keys, and only the drain tag.
      {
        Sid: 'DrainWorkers',
        Effect: 'Allow',
        Action: ['ec2:CreateTags', 'ec2:DeleteTags'],
        Resource: `arn:${partition}:ec2:${region}:${account}:instance/*`,
        Condition: {
          Null: { 'aws:TagKeys': 'false' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [DRAIN_TAG] },
          ...(opts.clusterTag
            ? { StringEquals: { [`aws:ResourceTag/${opts.clusterTag.key}`]: opts.clusterTag.value } }
            : {}),
        },
      },
      // Describe calls cannot be scoped to resources.
      { Sid: 'ListWorkers', Effect: 'Allow', Action: ['ec2:DescribeInstances'], Resource: '*' },
      {
        Sid: 'PassWorkerRole',
        Effect: 'Allow',
        Action: ['iam:PassRole'],
        Resource: role,
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      },
    ],
  };
}

/** An EC2 worker's: lease tasks, report, read inputs and write outputs; never the release or a fence. */
function workerPolicy(c: PolicyContext): PolicyDocument {
  const { names, queue, bucketArn, staging, control, allowed, jobObjects, jobBuckets } = c;
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'LeaseJobs',
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl'],
        Resource: queue(names.jobs),
      },
      {
        Sid: 'ReportStatus',
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
        Resource: queue(names.status),
      },
      {
        Sid: 'RejectToDlq',
        Effect: 'Allow',
        Action: ['sqs:SendMessage', 'sqs:GetQueueUrl'],
        Resource: queue(names.dlq),
      },
      {
        Sid: 'ReadInputsWriteOutputs',
        Effect: 'Allow',
        // DeleteObject: an upload is undone when the task's success cannot be reported, and chunk
        // pieces are removed after assembly.
        Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'],
        Resource: allowed.length > 0 ? [...jobObjects, `${bucketArn}/${staging}*`] : jobObjects,
      },
      // With allowedPrefixes, what a worker reads beyond them: the fences it obeys and the release it boots.
      ...(allowed.length > 0
        ? [
            {
              Sid: 'ReadFencesAndRelease',
              Effect: 'Allow' as const,
              Action: ['s3:GetObject'],
              Resource: [`${bucketArn}/${control}*`, `${bucketArn}/${RELEASE_PREFIX}*`],
            },
          ]
        : []),
      // Lets the overwrite check see "no such object" (404) rather than a 403.
      {
        Sid: 'SeeMissingObjects',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: jobBuckets.length === 1 ? jobBuckets[0]! : jobBuckets,
      },
      // Every new instance installs the release tarball as root, and every worker obeys the fences:
      // a job (or an ffmpeg exploited by a hostile input) must not be able to replace either.
      {
        Sid: 'NeverWriteReleasesOrFences',
        Effect: 'Deny',
        Action: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        Resource: [`${bucketArn}/${RELEASE_PREFIX}*`, `${bucketArn}/${control}*`],
      },
    ],
  };
}

/** `nommer setup aws`'s: the bucket, the queues and the release. */
function setupPolicy(c: PolicyContext): PolicyDocument {
  const { names, ingest, queue, bucketArn } = c;
  const allQueues = [queue(names.jobs), queue(names.status), queue(names.dlq), queue(ingest)];
  return {
    Version: '2012-10-17',
    Statement: [
      // HeadBucket is s3:ListBucket; the rest make a new bucket private and add the lifecycle rules.
      {
        Sid: 'EnsureBucket',
        Effect: 'Allow',
        Action: [
          's3:CreateBucket',
          's3:ListBucket',
          's3:PutBucketPublicAccessBlock',
          's3:GetLifecycleConfiguration',
          's3:PutLifecycleConfiguration',
        ],
        Resource: bucketArn,
      },
      {
        Sid: 'EnsureQueues',
        Effect: 'Allow',
        Action: ['sqs:CreateQueue', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes', 'sqs:SetQueueAttributes'],
        Resource: allQueues,
      },
      // The package EC2 workers install; nobody else may write there (see the worker's Deny).
      {
        Sid: 'PublishRelease',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
        Resource: `${bucketArn}/${RELEASE_PREFIX}*`,
      },
    ],
  };
}
