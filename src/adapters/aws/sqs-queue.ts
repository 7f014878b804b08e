// JobQueue on SQS: the jobs queue, where a lease is the visibility timeout. Extending a lease is
// ChangeMessageVisibility, ack deletes, release makes the message visible again (after a delay),
// and reject moves a message nobody can process to the dead-letter queue with the reason.
// Messages a worker keeps failing on reach the same DLQ by the queue's RedrivePolicy.
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { NommerError } from '../../errors.js';
import { decodeBody, type TaskMessage } from '../../messages.js';
import type { DeadLetter, JobQueue, Lease } from '../../ports/queue.js';
import { awsCall, isAbortError, wrapAwsError } from './errors.js';

/** SQS's hard limit for body plus message attributes. */
export const SQS_MAX_MESSAGE_BYTES = 262_144;
/** SQS limits: a long poll waits at most 20 s; a message stays invisible at most 12 hours. */
const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_SECONDS = 43_200;
/** Enough of a reject reason to act on; SQS attribute values share the 256 KiB budget. */
const MAX_REASON_CHARS = 1024;

export const VERSION_ATTRIBUTE = 'nommer-version';
export const REJECT_REASON_ATTRIBUTE = 'nommer-reject-reason';

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.round(n)));

function attributeBytes(attrs: Record<string, MessageAttributeValue>): number {
  let n = 0;
  for (const [k, v] of Object.entries(attrs))
    n += Buffer.byteLength(k) + Buffer.byteLength(v.DataType ?? '') + Buffer.byteLength(v.StringValue ?? '');
  return n;
}

/** JSON body plus the version attribute (lets a consumer route by version without parsing). */
export function encodeMessage(
  message: { v: number },
  what: string,
): { MessageBody: string; MessageAttributes: Record<string, MessageAttributeValue> } {
  const MessageBody = JSON.stringify(message);
  const MessageAttributes = { [VERSION_ATTRIBUTE]: { DataType: 'Number', StringValue: String(message.v) } };
  const bytes = Buffer.byteLength(MessageBody) + attributeBytes(MessageAttributes);
  // Checked here because SQS's own error for this is a vague InvalidParameterValue.
  if (bytes > SQS_MAX_MESSAGE_BYTES) {
    throw new NommerError(
      'MESSAGE_INVALID',
      `${what} is ${bytes} bytes; SQS accepts at most ${SQS_MAX_MESSAGE_BYTES}`,
      { hint: 'put large parameters (chunk manifests, presets) in storage and pass their URI' },
    );
  }
  return { MessageBody, MessageAttributes };
}

export { decodeBody };

export interface SqsJobQueueOptions {
  client: SQSClient;
  /** URL of `<prefix>-jobs` (see resolveQueueUrls). */
  queueUrl: string;
  /** URL of `<prefix>-dlq`, where reject() puts messages. */
  dlqUrl: string;
}

export class SqsJobQueue implements JobQueue {
  private readonly client: SQSClient;
  private readonly queueUrl: string;
  private readonly dlqUrl: string;

  constructor(opts: SqsJobQueueOptions) {
    if (!opts.queueUrl) throw new NommerError('CONFIG_INVALID', 'SqsJobQueue: queueUrl is required');
    if (!opts.dlqUrl) throw new NommerError('CONFIG_INVALID', 'SqsJobQueue: dlqUrl is required');
    this.client = opts.client;
    this.queueUrl = opts.queueUrl;
    this.dlqUrl = opts.dlqUrl;
  }

  async send(task: TaskMessage): Promise<void> {
    const encoded = encodeMessage(task, `task ${task.taskId}`);
    await awsCall({ service: 'sqs', operation: 'SendMessage', resource: this.queueUrl }, () =>
      this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, ...encoded })),
    );
  }

  /** Resolves null when nothing arrived within the wait, or when `signal` aborted the poll. */
  async receive(opts: { waitSeconds: number; leaseSeconds: number; signal?: AbortSignal }): Promise<Lease | null> {
    if (opts.signal?.aborted) return null;
    let messages: Message[] | undefined;
    try {
      const out = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: clamp(opts.waitSeconds, 0, MAX_WAIT_SECONDS),
          VisibilityTimeout: clamp(opts.leaseSeconds, 0, MAX_VISIBILITY_SECONDS),
          // Neither is returned unless asked for by name.
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: opts.signal },
      );
      messages = out.Messages;
    } catch (err) {
      // Stopping a worker mid-poll is normal; a message SQS handed out just before the abort
      // becomes visible again when its lease runs out.
      if (isAbortError(err) && opts.signal?.aborted) return null;
      throw wrapAwsError(err, { service: 'sqs', operation: 'ReceiveMessage', resource: this.queueUrl });
    }
    const message = messages?.[0];
    if (!message?.ReceiptHandle) return null;
    return new SqsLease(this.client, this.queueUrl, this.dlqUrl, message);
  }

  /** Dead letters from the DLQ, in no order (each hidden for a minute once read; deleted once applied). */
  async takeDeadLetters(max: number): Promise<DeadLetter[]> {
    const out = await awsCall({ service: 'sqs', operation: 'ReceiveMessage', resource: this.dlqUrl }, () =>
      this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.dlqUrl,
          MaxNumberOfMessages: clamp(max, 1, 10),
          WaitTimeSeconds: 0,
          VisibilityTimeout: 60,
          MessageAttributeNames: ['All'],
        }),
      ),
    );
    return (out.Messages ?? [])
      .filter((m) => m.ReceiptHandle)
      .map((m) => ({
        key: m.MessageId ?? '',
        body: decodeBody(m.Body),
        reason:
          m.MessageAttributes?.[REJECT_REASON_ATTRIBUTE]?.StringValue ??
          'received too many times without an ack (redrive policy)',
        remove: async () => {
          await awsCall({ service: 'sqs', operation: 'DeleteMessage', resource: this.dlqUrl }, () =>
            this.client.send(new DeleteMessageCommand({ QueueUrl: this.dlqUrl, ReceiptHandle: m.ReceiptHandle! })),
          );
        },
      }));
  }

  async depth(): Promise<{ waiting: number; inFlight: number }> {
    const out = await awsCall({ service: 'sqs', operation: 'GetQueueAttributes', resource: this.queueUrl }, () =>
      this.client.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.queueUrl,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesDelayed',
            'ApproximateNumberOfMessagesNotVisible',
          ],
        }),
      ),
    );
    const n = (k: string) => Number(out.Attributes?.[k as keyof typeof out.Attributes] ?? 0) || 0;
    // Delayed messages are work that will need a worker soon: count them as waiting.
    return {
      waiting: n('ApproximateNumberOfMessages') + n('ApproximateNumberOfMessagesDelayed'),
      inFlight: n('ApproximateNumberOfMessagesNotVisible'),
    };
  }
}

class SqsLease implements Lease {
  readonly body: unknown;
  readonly receiveCount: number;
  /** SQS cannot tell a release from a lost delivery: every earlier one counts (jobs/deliveries.ts). */
  readonly unfinished: number;
  /** After ack or reject the receipt handle is dead; a heartbeat racing the ack must not fail. */
  private settled = false;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
    private readonly dlqUrl: string,
    private readonly message: Message,
  ) {
    this.body = decodeBody(message.Body);
    this.receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? 1) || 1;
    this.unfinished = this.receiveCount - 1;
  }

  private get receiptHandle(): string {
    return this.message.ReceiptHandle!;
  }

  async extend(seconds: number): Promise<void> {
    if (this.settled) return;
    await this.changeVisibility(clamp(seconds, 0, MAX_VISIBILITY_SECONDS));
  }

  async ack(): Promise<void> {
    if (this.settled) return;
    await this.delete();
    this.settled = true;
  }

  /**
   * Given back on purpose: visible again after the delay. SQS cannot lower a receive count and
   * workers may not send to the jobs queue (least privilege), so on SQS a release still counts
   * toward the RedrivePolicy and toward `unfinished` (see jobs/deliveries.ts).
   */
  async release(delaySeconds = 0): Promise<void> {
    if (this.settled) return;
    await this.changeVisibility(clamp(delaySeconds, 0, MAX_VISIBILITY_SECONDS));
    this.settled = true;
  }

  async reject(reason: string): Promise<void> {
    if (this.settled) return;
    // Keep the sender's attributes (the version) so the DLQ copy can be inspected or replayed as is.
    const attrs: Record<string, MessageAttributeValue> = { ...(this.message.MessageAttributes ?? {}) };
    attrs[REJECT_REASON_ATTRIBUTE] = {
      DataType: 'String',
      StringValue: reason.slice(0, MAX_REASON_CHARS) || 'rejected',
    };
    // Copy first, then delete: if the delete fails the message comes back and is rejected again
    // (a duplicate in the DLQ), which beats losing it.
    await awsCall({ service: 'sqs', operation: 'SendMessage', resource: this.dlqUrl }, () =>
      this.client.send(
        new SendMessageCommand({
          QueueUrl: this.dlqUrl,
          MessageBody: this.message.Body ?? '',
          MessageAttributes: attrs,
        }),
      ),
    );
    await this.delete();
    this.settled = true;
  }

  private async delete(): Promise<void> {
    await awsCall({ service: 'sqs', operation: 'DeleteMessage', resource: this.queueUrl }, () =>
      this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: this.receiptHandle })),
    );
  }

  private async changeVisibility(seconds: number): Promise<void> {
    await awsCall({ service: 'sqs', operation: 'ChangeMessageVisibility', resource: this.queueUrl }, () =>
      this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.queueUrl,
          ReceiptHandle: this.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      ),
    );
  }
}
