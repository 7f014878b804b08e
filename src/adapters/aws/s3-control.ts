// ControlChannel on S3 (aws backend): a cancel marker is an empty object under the staging
// prefix. Workers never hear from feederd directly; they look for the marker on their heartbeat.
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ControlChannel } from '../../ports/control.js';
import { awsCall } from './errors.js';

export class S3Control implements ControlChannel {
  constructor(private readonly client: S3Client, private readonly bucket: string, private readonly prefix: string) {}
  private key(jobId: string): string { return `${this.prefix}control/cancel/${encodeURIComponent(jobId)}`; }

  async cancel(jobId: string): Promise<void> {
    await awsCall({ service: 's3', operation: 'PutObject', resource: `s3://${this.bucket}/${this.key(jobId)}` },
      () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(jobId), Body: '' })));
  }

  async isCanceled(jobId: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(jobId) }));
      return true;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return false;
      throw err;
    }
  }

  async clear(jobId: string): Promise<void> {
    await awsCall({ service: 's3', operation: 'DeleteObject', resource: `s3://${this.bucket}/${this.key(jobId)}` },
      () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(jobId) })));
  }
}
