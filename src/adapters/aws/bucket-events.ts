// BucketEvents on S3 event notifications and the `<prefix>-ingest` SQS queue (made, with the
// queue policy that lets the nommer buckets send to it, by `nommer setup aws`). A route is one
// QueueConfiguration of the bucket's notification configuration, by Id; the bucket's other
// configurations (its owner's) are read first and written back unchanged, since
// PutBucketNotificationConfiguration replaces the whole set. Messages are parsed with a schema:
// the first one after a route is made is an `s3:TestEvent`; keys come URL-encoded (`+` for a
// space); moto's events carry no versionId (real S3's do on a versioned bucket), so `identify`
// (HeadObject) is what says which version a key holds now.
import {
  GetBucketNotificationConfigurationCommand,
  HeadObjectCommand,
  PutBucketNotificationConfigurationCommand,
  type NotificationConfiguration,
  type QueueConfiguration,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import * as z from 'zod';
import type { BucketEventDelivery, BucketEvents, ObjectCreated, ObjectIdentity } from '../../ports/bucket-events.js';
import { awsCall, isAbortError, wrapAwsError } from './errors.js';

const MAX_WAIT_SECONDS = 20;
/** A message being acted on stays hidden this long (a job is made in well under a second). */
const VISIBILITY_SECONDS = 60;

const s3Record = z.object({
  eventName: z.string(),
  s3: z.object({
    configurationId: z.string().default(''),
    bucket: z.object({ name: z.string() }),
    object: z.object({
      key: z.string(),
      size: z.number().optional(),
      eTag: z.string().optional(),
      versionId: z.string().optional(),
    }),
  }),
});
const s3Event = z.object({ Records: z.array(s3Record) });
const testEvent = z.object({ Event: z.literal('s3:TestEvent') });

/** A key as S3 writes it into an event: URL-encoded, with `+` for a space. */
export function eventKey(encoded: string): string {
  return decodeURIComponent(encoded.replace(/\+/g, ' '));
}

/** The created objects a message names, or why it names none. */
export function parseBucketEvent(body: string | undefined): { objects: ObjectCreated[]; note?: string } {
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    return { objects: [], note: 'not JSON' };
  }
  if (testEvent.safeParse(json).success) return { objects: [], note: 's3:TestEvent' };
  const r = s3Event.safeParse(json);
  if (!r.success) return { objects: [], note: 'not an S3 event' };
  const objects = r.data.Records.filter((x) => x.eventName.startsWith('ObjectCreated:')).map((x) => ({
    routeId: x.s3.configurationId,
    bucket: x.s3.bucket.name,
    key: eventKey(x.s3.object.key),
    size: x.s3.object.size ?? null,
    etag: x.s3.object.eTag?.replace(/"/g, '') ?? null,
    versionId: x.s3.object.versionId ?? null,
  }));
  return objects.length ? { objects } : { objects, note: 'no created object' };
}

export interface S3BucketEventsOptions {
  s3: S3Client;
  sqs: SQSClient;
  /** `<prefix>-ingest` (queues.ts). */
  queueName: string;
}

export class S3BucketEvents implements BucketEvents {
  private queue?: Promise<{ url: string; arn: string }>;

  constructor(private readonly opts: S3BucketEventsOptions) {}

  /** The ingest queue's URL and ARN, looked up once (a missing queue: QUEUE_FAILED, run setup). */
  private ingest(): Promise<{ url: string; arn: string }> {
    this.queue ??= this.lookUp().catch((err) => {
      this.queue = undefined;
      throw err;
    });
    return this.queue;
  }

  private async lookUp(): Promise<{ url: string; arn: string }> {
    const { sqs, queueName } = this.opts;
    const ctx = (operation: string) => ({ service: 'sqs' as const, operation, resource: queueName });
    const url = (await awsCall(ctx('GetQueueUrl'), () => sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))))
      .QueueUrl!;
    const attrs = await awsCall(ctx('GetQueueAttributes'), () =>
      sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] })),
    );
    return { url, arn: attrs.Attributes!.QueueArn! };
  }

  private async configuration(bucket: string): Promise<NotificationConfiguration> {
    const out = await awsCall(
      {
        service: 's3',
        operation: 'GetBucketNotificationConfiguration',
        resource: `s3://${bucket}`,
        iamAction: 's3:GetBucketNotification',
      },
      () => this.opts.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket })),
    );
    // The answer's own fields only: $metadata must not be written back.
    return {
      TopicConfigurations: out.TopicConfigurations,
      QueueConfigurations: out.QueueConfigurations,
      LambdaFunctionConfigurations: out.LambdaFunctionConfigurations,
      EventBridgeConfiguration: out.EventBridgeConfiguration,
    };
  }

  private async put(bucket: string, config: NotificationConfiguration): Promise<void> {
    await awsCall(
      {
        service: 's3',
        operation: 'PutBucketNotificationConfiguration',
        resource: `s3://${bucket}`,
        iamAction: 's3:PutBucketNotification',
      },
      () =>
        this.opts.s3.send(
          new PutBucketNotificationConfigurationCommand({ Bucket: bucket, NotificationConfiguration: config }),
        ),
    );
  }

  async subscribe(routeId: string, bucket: string, prefix: string): Promise<'exists' | 'added'> {
    const { arn } = await this.ingest();
    const current = await this.configuration(bucket);
    const queues = current.QueueConfigurations ?? [];
    const route: QueueConfiguration = {
      Id: routeId,
      QueueArn: arn,
      Events: ['s3:ObjectCreated:*'],
      ...(prefix ? { Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: prefix }] } } } : {}),
    };
    if (queues.some((q) => sameRoute(q, route))) return 'exists';
    await this.put(bucket, { ...current, QueueConfigurations: [...queues.filter((q) => q.Id !== routeId), route] });
    return 'added';
  }

  async unsubscribe(routeId: string, bucket: string): Promise<void> {
    const current = await this.configuration(bucket);
    const queues = current.QueueConfigurations ?? [];
    if (!queues.some((q) => q.Id === routeId)) return;
    await this.put(bucket, { ...current, QueueConfigurations: queues.filter((q) => q.Id !== routeId) });
  }

  async receive(waitSeconds: number, signal?: AbortSignal): Promise<BucketEventDelivery[]> {
    if (signal?.aborted) return [];
    const { url } = await this.ingest();
    let messages: Message[];
    try {
      const out = await this.opts.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.round(waitSeconds))),
          VisibilityTimeout: VISIBILITY_SECONDS,
        }),
        { abortSignal: signal },
      );
      messages = out.Messages ?? [];
    } catch (err) {
      if (isAbortError(err) && signal?.aborted) return [];
      throw wrapAwsError(err, { service: 'sqs', operation: 'ReceiveMessage', resource: this.opts.queueName });
    }
    return messages
      .filter((m) => m.ReceiptHandle)
      .map((m) => ({
        ...parseBucketEvent(m.Body),
        ack: () =>
          awsCall({ service: 'sqs', operation: 'DeleteMessage', resource: this.opts.queueName }, () =>
            this.opts.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! })),
          ).then(() => undefined),
      }));
  }

  async identify(bucket: string, key: string): Promise<ObjectIdentity | null> {
    const ctx = {
      service: 's3' as const,
      operation: 'HeadObject',
      resource: `s3://${bucket}/${key}`,
      iamAction: 's3:GetObject',
    };
    try {
      const out = await this.opts.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        versionId: out.VersionId ?? null,
        etag: (out.ETag ?? '').replace(/"/g, ''),
        size: out.ContentLength ?? 0,
      };
    } catch (err) {
      const e = wrapAwsError(err, ctx);
      if (e.code === 'STORAGE_NOT_FOUND') return null;
      throw e;
    }
  }
}

/** The same route: id, queue, events and prefix filter (S3 may answer the filter's rule name as `Prefix`). */
function sameRoute(a: QueueConfiguration, b: QueueConfiguration): boolean {
  const prefix = (q: QueueConfiguration) =>
    q.Filter?.Key?.FilterRules?.find((r) => r.Name?.toLowerCase() === 'prefix')?.Value ?? '';
  return (
    a.Id === b.Id &&
    a.QueueArn === b.QueueArn &&
    JSON.stringify(a.Events ?? []) === JSON.stringify(b.Events ?? []) &&
    prefix(a) === prefix(b) &&
    (a.Filter?.Key?.FilterRules?.length ?? 0) === (b.Filter?.Key?.FilterRules?.length ?? 0)
  );
}
