// The one place that picks adapters for the configured backend. Everything else sees ports.
import type { Config } from './config.js';
import { NommerError } from './errors.js';
import { awsSettingsOf } from './aws-settings.js';
import { dataPaths, ensureDataDir } from './paths.js';
import { queueDeadLetterLimit } from './jobs/deliveries.js';
import type { ControlChannel } from './ports/control.js';
import type { JobQueue } from './ports/queue.js';
import type { StatusChannel } from './ports/status.js';
import type { Storage } from './ports/storage.js';
import type { BucketEvents } from './ports/bucket-events.js';
import type { Db } from './adapters/local/db.js';
import { FsStorage, StorageRouter } from './adapters/local/fs-storage.js';

export interface Ports {
  backend: 'local' | 'aws';
  queue: JobQueue;
  status: StatusChannel;
  control: ControlChannel;
  storage: Storage;
  /** aws: the buckets' created-events, for watched S3 prefixes (feederd only uses it). */
  bucketEvents?: BucketEvents;
  close(): void;
}

/** Ports for a process of this backend. Local ones share the data dir's database file. */
export async function openPorts(config: Config, home: string, db?: Db): Promise<Ports> {
  if (config.backend === 'local') {
    ensureDataDir(home);
    // Loaded here, not with this module: `nommer encode` and `submit` import it for
    // localFileStorage alone and need neither SQLite nor the queue.
    const { openDatabase } = await import('./adapters/local/db.js');
    const { SqliteControl } = await import('./adapters/local/sqlite-control.js');
    const { SqliteJobQueue } = await import('./adapters/local/sqlite-queue.js');
    const { SqliteStatusChannel } = await import('./adapters/local/sqlite-status.js');
    const own = !db;
    const database = db ?? openDatabase(dataPaths(home).db);
    return {
      backend: 'local',
      queue: new SqliteJobQueue(database, { maxReceives: queueDeadLetterLimit(config.jobs.maxAttempts) }),
      status: new SqliteStatusChannel(database),
      control: new SqliteControl(database),
      storage: new StorageRouter([new FsStorage()]),
      close: () => {
        if (own) database.close();
      },
    };
  }
  const aws = config.aws;
  if (!aws.bucket)
    throw new NommerError('CONFIG_INVALID', 'the aws backend needs aws.bucket', {
      hint: 'set it in nommer.config.json or NOMMER_AWS_BUCKET, then run `nommer setup aws`',
    });
  const { awsClients } = await import('./adapters/aws/clients.js');
  const { ingestQueueName, resolveQueueUrls } = await import('./adapters/aws/queues.js');
  const { S3BucketEvents } = await import('./adapters/aws/bucket-events.js');
  const { SqsJobQueue } = await import('./adapters/aws/sqs-queue.js');
  const { SqsStatusChannel } = await import('./adapters/aws/sqs-status.js');
  const { S3Storage } = await import('./adapters/aws/s3-storage.js');
  const { S3Control } = await import('./adapters/aws/s3-control.js');
  const clients = awsClients(awsSettingsOf(config));
  const urls = await resolveQueueUrls(clients.sqs, aws.queuePrefix);
  return {
    backend: 'aws',
    queue: new SqsJobQueue({ client: clients.sqs, queueUrl: urls.jobs, dlqUrl: urls.dlq }),
    status: new SqsStatusChannel({ client: clients.sqs, queueUrl: urls.status, dlqUrl: urls.dlq }),
    control: new S3Control(clients.s3, aws.bucket, aws.controlPrefix),
    bucketEvents: new S3BucketEvents({ s3: clients.s3, sqs: clients.sqs, queueName: ingestQueueName(aws.queuePrefix) }),
    // No local files on the aws backend: feederd stages the user's files through S3, and a task
    // message must not make a worker read or write its own disk. http(s) inputs never reach
    // loopback, link-local/metadata or (unless aws.allowPrivateInputs) private addresses from a worker.
    storage: new StorageRouter([
      new S3Storage({
        client: clients.s3,
        sse: aws.sse,
        kmsKeyId: aws.kmsKeyId,
        http: { denyLoopback: true, denyPrivate: true, allowPrivate: aws.allowPrivateInputs },
      }),
    ]),
    close: () => {
      clients.sqs.destroy();
      clients.s3.destroy();
      clients.ec2.destroy();
    },
  };
}

/** Local files (and http(s) inputs): what `nommer encode` writes with, whatever the backend. */
export function localFileStorage(): Storage {
  return new StorageRouter([new FsStorage()]);
}
