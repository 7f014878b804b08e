// StatusChannel on the SQS status queue: workers publish events, the orchestrator receives them
// in batches of up to 10 (SQS's limit) and deletes each once applied. Delivery is at-least-once;
// the orchestrator applies events idempotently by (job, attempt, seq). The status queue has no
// redrive policy: an event that cannot be applied is moved to the DLQ by the consumer, which
// knows why (deadLetter), after as many deliveries (ApproximateReceiveCount) as it allows.
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { NommerError } from '../../errors.js';
import type { StatusEvent } from '../../messages.js';
import type { ReceivedStatus, StatusChannel } from '../../ports/status.js';
import { awsCall, isAbortError, wrapAwsError } from './errors.js';
import { REJECT_REASON_ATTRIBUTE, decodeBody, encodeMessage } from './sqs-queue.js';

const MAX_BATCH = 10;
const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_SECONDS = 43_200;
/** Enough of a reason to act on; SQS attribute values share the 256 KiB budget. */
const MAX_REASON_CHARS = 1024;

export interface SqsStatusChannelOptions {
  client: SQSClient;
  /** URL of `<prefix>-status`. */
  queueUrl: string;
  /** URL of `<prefix>-dlq`, where deadLetter() puts events; without it deadLetter() fails. */
  dlqUrl?: string;
  /** How long a received event stays hidden before it is delivered again unless acked (default 60 s). */
  visibilitySeconds?: number;
}

export class SqsStatusChannel implements StatusChannel {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly dlqUrl?: string;
  private readonly visibilitySeconds: number;

  constructor(opts: SqsStatusChannelOptions) {
    if (!opts.queueUrl) throw new NommerError('CONFIG_INVALID', 'SqsStatusChannel: queueUrl is required');
    this.client = opts.client;
    this.queueUrl = opts.queueUrl;
    this.dlqUrl = opts.dlqUrl;
    this.visibilitySeconds = opts.visibilitySeconds ?? 60;
  }

  async publish(event: StatusEvent): Promise<void> {
    const encoded = encodeMessage(event, `status event ${event.type} for task ${event.taskId}`);
    await awsCall({ service: 'sqs', operation: 'SendMessage', resource: this.queueUrl }, () =>
      this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, ...encoded })),
    );
  }

  /** Up to `max` (at most 10) events; empty when none arrived in the wait or `signal` aborted it. */
  async receive(opts: { max: number; waitSeconds: number; signal?: AbortSignal }): Promise<ReceivedStatus[]> {
    if (opts.signal?.aborted) return [];
    let messages: Message[];
    try {
      const out = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: Math.min(MAX_BATCH, Math.max(1, Math.floor(opts.max))),
          WaitTimeSeconds: Math.min(MAX_WAIT_SECONDS, Math.max(0, Math.round(opts.waitSeconds))),
          VisibilityTimeout: this.visibilitySeconds,
          // Neither is returned unless asked for by name: the count tells a poison event from a
          // first try, the attributes (the version) travel with a dead-lettered copy.
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: opts.signal },
      );
      messages = out.Messages ?? [];
    } catch (err) {
      if (isAbortError(err) && opts.signal?.aborted) return [];
      throw wrapAwsError(err, { service: 'sqs', operation: 'ReceiveMessage', resource: this.queueUrl });
    }
    return messages.filter((m) => m.ReceiptHandle).map((m) => this.received(m));
  }

  private received(message: Message): ReceivedStatus {
    // After ack, release or dead-letter the receipt handle is spent: a second call does nothing.
    let settled = false;
    const del = () =>
      awsCall({ service: 'sqs', operation: 'DeleteMessage', resource: this.queueUrl }, () =>
        this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: message.ReceiptHandle! })),
      );
    return {
      body: decodeBody(message.Body),
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1) || 1,
      ack: async () => {
        if (settled) return;
        await del();
        settled = true;
      },
      release: async (delaySeconds = 0) => {
        if (settled) return;
        const seconds = Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.round(delaySeconds)));
        await awsCall({ service: 'sqs', operation: 'ChangeMessageVisibility', resource: this.queueUrl }, () =>
          this.client.send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: this.queueUrl,
              ReceiptHandle: message.ReceiptHandle!,
              VisibilityTimeout: seconds,
            }),
          ),
        );
        settled = true;
      },
      deadLetter: async (reason: string) => {
        if (settled) return;
        const dlqUrl = this.dlqUrl;
        if (!dlqUrl) {
          throw new NommerError(
            'CONFIG_INVALID',
            `cannot dead-letter a status event from ${this.queueUrl}: no dead-letter queue URL was given`,
          );
        }
        const attrs: Record<string, MessageAttributeValue> = { ...(message.MessageAttributes ?? {}) };
        attrs[REJECT_REASON_ATTRIBUTE] = {
          DataType: 'String',
          StringValue: reason.slice(0, MAX_REASON_CHARS) || 'dead-lettered',
        };
        // Copy first, then delete, as the job queue's reject does: if the delete fails the event
        // comes back and is dead-lettered again (a duplicate in the DLQ), which beats losing it.
        await awsCall({ service: 'sqs', operation: 'SendMessage', resource: dlqUrl }, () =>
          this.client.send(
            new SendMessageCommand({
              QueueUrl: dlqUrl,
              MessageBody: message.Body ?? '',
              MessageAttributes: attrs,
            }),
          ),
        );
        await del();
        settled = true;
      },
    };
  }
}
