// Storage on S3 for s3://bucket/key, plus http(s):// inputs. Downloads stream to disk; uploads go
// through lib-storage's Upload (multipart above one part, parts in parallel) and are only visible
// once complete, so a failed or canceled store leaves no object and no parts behind. An output is
// written to a scratch file private to the delivery and committed by that upload; without
// overwrite the upload is conditional (If-None-Match: *), so it never replaces an object that
// appeared meanwhile; with overwrite the object replaced is first copied aside, so an all-or-none
// commit of several (a package, a multi-output job) that fails midway puts it back.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type S3Client,
  UploadPartCommand,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NommerError, asNommerError } from '../../errors.js';
import type {
  Committed,
  FileIdentity,
  PreparedOutput,
  PrepareOptions,
  Storage,
  StoreResult,
} from '../../ports/storage.js';
import { downloadHttp, safeFileName, streamToFile, type HttpDownloadOptions } from '../http-download.js';
import { isHttpUri, isS3Uri } from '../../uri.js';
import { awsCall, wrapAwsError, type AwsCallContext } from './errors.js';

/** S3's minimum part size for every part but the last. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
/** The most CopyObject copies in one request. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;

export interface S3Location {
  bucket: string;
  key: string;
}

/** s3://bucket/key/with/slashes -> { bucket, key }; USAGE error when either part is missing. */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/(.+)$/i.exec(uri);
  if (!m?.[2] || m[2].endsWith('/')) {
    throw new NommerError('USAGE', `not an S3 object URI: ${uri}`, { hint: 'write s3://bucket/path/to/file.webm' });
  }
  return { bucket: m[1]!, key: m[2] };
}

const CONTENT_TYPES: Record<string, string> = {
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  ogg: 'application/ogg',
  ogv: 'video/ogg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  webp: 'image/webp',
  json: 'application/json',
  mp4: 'video/mp4',
  m4a: 'audio/mp4',
  // An adaptive-streaming package (src/abr/): manifests, CMAF segments, subtitles, thumbnails.
  mpd: 'application/dash+xml',
  m3u8: 'application/vnd.apple.mpegurl',
  m4s: 'video/iso.segment',
  vtt: 'text/vtt',
  jpg: 'image/jpeg',
};

function contentTypeFor(key: string): string {
  const ext = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

export interface S3StorageOptions {
  client: S3Client;
  /** Server-side encryption for stored objects. */
  sse?: 'AES256' | 'aws:kms';
  /** KMS key for sse 'aws:kms' (default: the account's aws/s3 key). */
  kmsKeyId?: string;
  /** Multipart part size in bytes (at least 5 MiB; default 8 MiB). */
  partSizeBytes?: number;
  /** Parts uploaded in parallel (default 4); memory use is about partSize × queueSize. */
  queueSize?: number;
  /** Options for http(s) inputs. */
  http?: Pick<
    HttpDownloadOptions,
    'maxRedirects' | 'headersTimeoutMs' | 'denyLoopback' | 'denyPrivate' | 'allowPrivate'
  >;
}

export class S3Storage implements Storage {
  private readonly client: S3Client;
  private readonly opts: S3StorageOptions;
  private readonly partSize: number;

  constructor(opts: S3StorageOptions) {
    if (opts.partSizeBytes !== undefined && opts.partSizeBytes < MIN_PART_BYTES) {
      throw new NommerError(
        'CONFIG_INVALID',
        `S3 part size ${opts.partSizeBytes} is below S3's minimum of ${MIN_PART_BYTES} bytes (5 MiB)`,
      );
    }
    if (opts.kmsKeyId && opts.sse !== 'aws:kms') {
      throw new NommerError('CONFIG_INVALID', "kmsKeyId is set but sse is not 'aws:kms'");
    }
    this.client = opts.client;
    this.opts = opts;
    this.partSize = opts.partSizeBytes ?? 8 * 1024 * 1024;
  }

  handles(uri: string): boolean {
    return isS3Uri(uri) || isHttpUri(uri);
  }

  async fetch(
    uri: string,
    destDir: string,
    opts: { signal?: AbortSignal; onBytes?: (done: number, total?: number) => void } = {},
  ): Promise<string> {
    if (isHttpUri(uri)) return downloadHttp(uri, destDir, { ...this.opts.http, ...opts });
    const { bucket, key } = parseS3Uri(uri);
    const ctx: AwsCallContext = { service: 's3', operation: 'GetObject', resource: uri };
    const out = await awsCall(ctx, () =>
      this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: opts.signal }),
    );
    if (!out.Body)
      throw new NommerError('STORAGE_FAILED', `s3 GetObject ${uri}: empty response body`, { retriable: true });
    const { path } = await streamToFile(out.Body as Readable, destDir, safeFileName(key), {
      signal: opts.signal,
      onBytes: opts.onBytes,
      total: out.ContentLength,
      // A body cut off mid-transfer: the object is fine, the connection was not.
      sourceError: (err) => {
        const wrapped = wrapAwsError(err, ctx);
        return wrapped.code === 'STORAGE_FAILED'
          ? new NommerError('STORAGE_FAILED', wrapped.message, { retriable: true, cause: err })
          : wrapped;
      },
    });
    return path;
  }

  async store(
    localFile: string,
    uri: string,
    opts: { overwrite?: boolean; signal?: AbortSignal } = {},
  ): Promise<StoreResult> {
    if (!isS3Uri(uri)) throw new NommerError('USAGE', `cannot store to ${uri}: the aws backend stores to s3:// URIs`);
    const { bucket, key } = parseS3Uri(uri);
    let size: number;
    try {
      size = (await stat(localFile)).size;
    } catch (err) {
      throw asNommerError(err);
    }

    // The early check gives the plain message; the conditional write below closes the race.
    if (!opts.overwrite && (await this.exists(uri))) {
      throw new NommerError('OUTPUT_EXISTS', `${uri} already exists`, { hint: 'pass --force to replace it' });
    }
    if (opts.signal?.aborted) throw new NommerError('CANCELED', `upload to ${uri} canceled`);

    const body = createReadStream(localFile);
    const watched = watchUploadClient(this.client, opts.signal);
    const upload = new Upload({
      client: watched.client,
      partSize: this.partSize,
      queueSize: this.opts.queueSize ?? 4,
      // On failure lib-storage aborts the multipart upload itself: no orphaned parts to pay for.
      leavePartsOnError: false,
      params: {
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentLength: size,
        ContentType: contentTypeFor(key),
        ...(opts.overwrite ? {} : { IfNoneMatch: '*' }),
        ...(this.opts.sse ? { ServerSideEncryption: this.opts.sse as ServerSideEncryption } : {}),
        ...(this.opts.kmsKeyId ? { SSEKMSKeyId: this.opts.kmsKeyId } : {}),
      },
    });
    const onAbort = () => {
      void upload.abort();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      if ((err as { name?: string }).name === 'AbortError') await this.cleanUpAfterAbort(watched, bucket, key);
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || (err as { name?: string }).name === 'PreconditionFailed') {
        throw new NommerError('OUTPUT_EXISTS', `${uri} already exists`, {
          hint: 'an object appeared there while encoding; pass --force to replace it',
        });
      }
      throw wrapAwsError(err, { service: 's3', operation: 'PutObject', resource: uri });
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      body.destroy();
    }
    return { uri, bytes: size };
  }

  /**
   * On abort, Upload.done() rejects at once while its requests wind down in the background: a
   * CreateMultipartUpload still in flight creates its upload after done() has returned. So wait
   * until the Upload has no request in flight, then abort the multipart upload it created, if
   * any: when store() returns, nothing partial remains, whichever phase the cancel hit.
   */
  private async cleanUpAfterAbort(watched: WatchedUploadClient, bucket: string, key: string): Promise<void> {
    await watched.settled();
    const uploadId = watched.uploadId();
    if (!uploadId) return;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
    } catch {
      // Already aborted by lib-storage (NoSuchUpload), or unreachable: the bucket's lifecycle rule
      // (AbortIncompleteMultipartUpload, set by `nommer setup aws`) is the backstop.
    }
  }

  async checkOutput(uri: string, opts: { overwrite: boolean }): Promise<void> {
    if (!isS3Uri(uri))
      throw new NommerError('USAGE', `cannot write an output to ${uri}: the aws backend writes s3:// URIs`, {
        hint: 'choose an s3:// URI with -o (feederd stages local paths for you)',
      });
    parseS3Uri(uri);
    if (!opts.overwrite && (await this.exists(uri)))
      throw new NommerError('OUTPUT_EXISTS', `${uri} already exists`, { hint: 'pass --force to replace it' });
  }

  async prepareOutput(uri: string, opts: PrepareOptions): Promise<PreparedOutput> {
    const { key } = parseS3Uri(uri);
    const unique = `${opts.tag ? `${opts.tag.replace(/[^A-Za-z0-9_.-]/g, '_')}.` : ''}${randomBytes(4).toString('hex')}`;
    const path = join(opts.scratchDir, `out-${unique}-${safeFileName(key)}`);
    let committed = false;
    return {
      uri,
      path,
      commit: async (c = {}): Promise<Committed> => {
        // With overwrite, the object replaced is copied aside first, so undo can put it back.
        const { backup, existed } = opts.overwrite
          ? await this.keepAside(uri, unique)
          : { backup: null, existed: false };
        let r: StoreResult;
        try {
          r = await this.store(path, uri, { overwrite: opts.overwrite, signal: c.signal });
        } catch (err) {
          if (backup) await this.remove(backup).catch(() => undefined);
          throw err;
        }
        committed = true;
        await rm(path, { force: true });
        return {
          ...r,
          undo: async () => {
            // An object too big to keep aside was replaced for good: the new one stays rather
            // than leaving neither.
            if (!backup) return existed ? undefined : this.remove(uri);
            await this.copy(backup, uri);
            await this.remove(backup);
          },
          finish: async () => {
            if (backup) await this.remove(backup);
          },
        };
      },
      discard: async () => {
        if (!committed) await rm(path, { force: true });
      },
    };
  }

  /**
   * Copy the object at uri (if any) to a hidden key beside it, `.<name>.<unique>.nommer-old`;
   * returns that key's URI (null when there is nothing to keep) and whether an object was there.
   * Objects above S3's one-request copy limit (5 GiB) are not kept aside: replacing one cannot be
   * undone.
   */
  private async keepAside(uri: string, unique: string): Promise<{ backup: string | null; existed: boolean }> {
    const size = await this.sizeOf(uri);
    if (size === undefined) return { backup: null, existed: false };
    if (size > MAX_COPY_BYTES) return { backup: null, existed: true };
    const { bucket, key } = parseS3Uri(uri);
    const cut = key.lastIndexOf('/') + 1;
    const backup = `s3://${bucket}/${key.slice(0, cut)}.${key.slice(cut)}.${unique}.nommer-old`;
    await this.copy(uri, backup);
    return { backup, existed: true };
  }

  /** Server-side copy of one object (same bucket or another), its content type and encryption kept. */
  private async copy(from: string, to: string): Promise<void> {
    const src = parseS3Uri(from);
    const dst = parseS3Uri(to);
    const source = `${src.bucket}/${src.key.split('/').map(encodeURIComponent).join('/')}`;
    await awsCall({ service: 's3', operation: 'CopyObject', resource: to }, () =>
      this.client.send(
        new CopyObjectCommand({
          Bucket: dst.bucket,
          Key: dst.key,
          CopySource: source,
          ...(this.opts.sse ? { ServerSideEncryption: this.opts.sse as ServerSideEncryption } : {}),
          ...(this.opts.kmsKeyId ? { SSEKMSKeyId: this.opts.kmsKeyId } : {}),
        }),
      ),
    );
  }

  /** The object's size, or undefined when there is none. */
  private async sizeOf(uri: string): Promise<number | undefined> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return undefined;
      throw wrapAwsError(err, { service: 's3', operation: 'HeadObject', resource: uri, iamAction: 's3:GetObject' });
    }
  }

  async exists(uri: string): Promise<boolean> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // HEAD can't say whether the bucket or the key is missing; either way the object isn't there.
      // (Without s3:ListBucket, S3 answers 403 for a missing key: hence both actions in the hint.)
      if (status === 404) return false;
      throw wrapAwsError(err, {
        service: 's3',
        operation: 'HeadObject',
        resource: uri,
        iamAction: 's3:GetObject and s3:ListBucket',
      });
    }
  }

  async remove(uri: string): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    // Deleting a missing key succeeds on S3, which is what we want: remove is idempotent.
    await awsCall({ service: 's3', operation: 'DeleteObject', resource: uri }, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
    );
  }

  async identify(uri: string): Promise<FileIdentity | null> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      if (!h.ETag) return null;
      // Without a date it cannot be shown older than anything: as if modified just now.
      return { bytes: h.ContentLength ?? 0, modifiedMs: h.LastModified?.getTime() ?? Date.now(), tag: h.ETag };
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw wrapAwsError(err, { service: 's3', operation: 'HeadObject', resource: uri, iamAction: 's3:GetObject' });
    }
  }

  /** A conditional delete: S3 itself compares the ETag, so nothing can slip in between. */
  async removeIfSame(uri: string, expected: FileIdentity): Promise<boolean> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, IfMatch: expected.tag }));
      return true;
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 412 || status === 404) return false;
      throw wrapAwsError(err, { service: 's3', operation: 'DeleteObject', resource: uri });
    }
  }
}

function httpStatusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

interface WatchedUploadClient {
  /** The client to give lib-storage's Upload: the same client, its requests watched. */
  client: S3Client;
  /** The multipart upload the Upload created, once CreateMultipartUpload has answered. */
  uploadId(): string | undefined;
  /** Resolves when no request of the Upload is in flight, nor about to be sent. */
  settled(): Promise<void>;
}

/**
 * Wraps `client` for one Upload: every request it sends is tracked until it settles, the UploadId
 * that CreateMultipartUpload returns is kept, and part uploads in flight are canceled with
 * `signal` (their upload is aborted anyway). The create itself is never canceled mid-request: S3
 * may have made the upload already, and only its answer says which one to abort.
 */
function watchUploadClient(client: S3Client, signal: AbortSignal | undefined): WatchedUploadClient {
  const inflight = new Set<Promise<unknown>>();
  let uploadId: string | undefined;
  const send = (command: unknown, options?: unknown): Promise<unknown> => {
    const withSignal =
      signal && command instanceof UploadPartCommand && options === undefined ? { abortSignal: signal } : options;
    const sent = (client.send as (c: unknown, o?: unknown) => Promise<unknown>)(command, withSignal).then((out) => {
      if (command instanceof CreateMultipartUploadCommand) uploadId = (out as { UploadId?: string }).UploadId;
      return out;
    });
    inflight.add(sent);
    const untrack = () => inflight.delete(sent);
    sent.then(untrack, untrack);
    return sent;
  };
  const watched = new Proxy(client, {
    get: (target, prop) => (prop === 'send' ? send : Reflect.get(target, prop, target)),
  });
  return {
    client: watched,
    uploadId: () => uploadId,
    settled: async () => {
      // Requests the Upload sends after others settle (its own abort, the create it was about to
      // send) start within a turn of the event loop; a bounded number of rounds covers them all.
      for (let round = 0; round < 100; round++) {
        await Promise.allSettled([...inflight]);
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (inflight.size === 0) return;
      }
    },
  };
}
