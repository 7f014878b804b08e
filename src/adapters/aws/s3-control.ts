// ControlChannel on S3 (aws backend): one small JSON object per job under the control prefix,
// `{"*": N, "<taskId>": M}` — the attempts that are void. feederd is its only writer (read, raise,
// write); workers read it on their heartbeat, so fencing costs one GET per worker per check.
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ControlChannel } from '../../ports/control.js';
import { awsCall, wrapAwsError } from './errors.js';

type Fences = Record<string, number>;

export class S3Control implements ControlChannel {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}
  private key(jobId: string): string {
    return `${this.prefix}fence/${encodeURIComponent(jobId)}.json`;
  }

  async fence(jobId: string, upTo: number, taskId?: string): Promise<void> {
    const fences = await this.read(jobId);
    const k = taskId ?? '*';
    if ((fences[k] ?? 0) >= upTo) return;
    fences[k] = upTo;
    await awsCall({ service: 's3', operation: 'PutObject', resource: `s3://${this.bucket}/${this.key(jobId)}` }, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(jobId),
          Body: JSON.stringify(fences),
          ContentType: 'application/json',
        }),
      ),
    );
  }

  async fencedUpTo(jobId: string, taskId: string): Promise<number> {
    const f = await this.read(jobId);
    return Math.max(f['*'] ?? 0, f[taskId] ?? 0);
  }

  private async read(jobId: string): Promise<Fences> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(jobId) }));
      const parsed = JSON.parse((await out.Body?.transformToString()) ?? '{}') as unknown;
      const fences: Fences = {};
      if (parsed && typeof parsed === 'object') {
        for (const [k, v] of Object.entries(parsed)) if (typeof v === 'number' && Number.isFinite(v)) fences[k] = v;
      }
      return fences;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (err as { name?: string }).name === 'NoSuchKey') return {};
      if (err instanceof SyntaxError) return {};
      throw wrapAwsError(err, {
        service: 's3',
        operation: 'GetObject',
        resource: `s3://${this.bucket}/${this.key(jobId)}`,
      });
    }
  }
}
