// The names of nommer's SQS queues and how to find their URLs. One place, so setup, the queue
// adapters and the IAM policies can never disagree about `<prefix>-jobs` and friends.
import { GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { awsCall } from './errors.js';

export interface QueueNames {
  jobs: string;
  status: string;
  dlq: string;
}

export function queueNames(prefix: string): QueueNames {
  return { jobs: `${prefix}-jobs`, status: `${prefix}-status`, dlq: `${prefix}-dlq` };
}

export type QueueUrls = QueueNames;

/** The queue a watched bucket's created-events go to (`nommer watch add s3://…`): not one of the
 * three every process resolves at start, so a setup made before watches existed still runs. */
export function ingestQueueName(prefix: string): string {
  return `${prefix}-ingest`;
}

/** Look up all three URLs; a missing queue is QUEUE_FAILED with the hint to run setup. */
export async function resolveQueueUrls(client: SQSClient, prefix: string): Promise<QueueUrls> {
  const names = queueNames(prefix);
  const url = async (name: string): Promise<string> => {
    const out = await awsCall({ service: 'sqs', operation: 'GetQueueUrl', resource: name }, () =>
      client.send(new GetQueueUrlCommand({ QueueName: name })),
    );
    return out.QueueUrl!;
  };
  const [jobs, status, dlq] = await Promise.all([url(names.jobs), url(names.status), url(names.dlq)]);
  return { jobs, status, dlq };
}
