// StatusChannel on the SQS status queue: workers publish events, the orchestrator receives them
// in batches of up to 10 (SQS's limit) and deletes each once applied. Delivery is at-least-once;
// the orchestrator applies events idempotently by (job, attempt, seq).
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { NommerError } from '../../errors.js';
import type { StatusEvent } from '../../messages.js';
import type { ReceivedStatus, StatusChannel } from '../../ports/status.js';
import { awsCall, isAbortError, wrapAwsError } from './errors.js';
import { decodeBody, encodeMessage } from './sqs-queue.js';

const MAX_BATCH = 10;
const MAX_WAIT_SECONDS = 20;

export interface SqsStatusChannelOptions {
  client: SQSClient;
  /** URL of `<prefix>-status`. */
  queueUrl: string;
  /** How long a received event stays hidden before it is delivered again unless acked (default 60 s). */
  visibilitySeconds?: number;
}

export class SqsStatusChannel implements StatusChannel {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly visibilitySeconds: number;

  constructor(opts: SqsStatusChannelOptions) {
    if (!opts.queueUrl) throw new NommerError('CONFIG_INVALID', 'SqsStatusChannel: queueUrl is required');
    this.client = opts.client;
    this.queueUrl = opts.queueUrl;
    this.visibilitySeconds = opts.visibilitySeconds ?? 60;
  }

  async publish(event: StatusEvent): Promise<void> {
    const encoded = encodeMessage(event, `status event ${event.type} for task ${event.taskId}`);
    await awsCall({ service: 'sqs', operation: 'SendMessage', resource: this.queueUrl },
      () => this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, ...encoded })));
  }

  /** Up to `max` (at most 10) events; empty when none arrived in the wait or `signal` aborted it. */
  async receive(opts: { max: number; waitSeconds: number; signal?: AbortSignal }): Promise<ReceivedStatus[]> {
    if (opts.signal?.aborted) return [];
    let messages: Message[];
    try {
      const out = await this.client.send(new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: Math.min(MAX_BATCH, Math.max(1, Math.floor(opts.max))),
        WaitTimeSeconds: Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.round(opts.waitSeconds))),
        VisibilityTimeout: this.visibilitySeconds,
      }), { abortSignal: opts.signal });
      messages = out.Messages ?? [];
    } catch (err) {
      if (isAbortError(err) && opts.signal?.aborted) return [];
      throw wrapAwsError(err, { service: 'sqs', operation: 'ReceiveMessage', resource: this.queueUrl });
    }
    return messages.filter((m) => m.ReceiptHandle).map((m) => this.received(m));
  }

  private received(message: Message): ReceivedStatus {
    let acked = false;
    return {
      body: decodeBody(message.Body),
      ack: async () => {
        if (acked) return;
        await awsCall({ service: 'sqs', operation: 'DeleteMessage', resource: this.queueUrl },
          () => this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: message.ReceiptHandle! })));
        acked = true;
      },
    };
  }
}
