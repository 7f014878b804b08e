// Turns an AWS SDK error into a NommerError exactly once, where the call is made, so callers
// never re-guess from SDK error names: a stable code, a message that names what was being done
// to what, whether a retry can help, and for permission problems the IAM action that is missing.
import { NommerError, type ErrorCode } from '../../errors.js';

export type AwsService = 's3' | 'sqs' | 'ec2';

export interface AwsCallContext {
  service: AwsService;
  /** The API operation, e.g. 'GetObject'. */
  operation: string;
  /** What it was done to: an s3:// URI, a queue name or URL, instance ids. */
  resource?: string;
  /** The IAM action a denial means is missing, when it differs from `service:operation`
   * (HeadObject needs s3:GetObject, a multipart upload needs s3:PutObject). */
  iamAction?: string;
}

/** Errors for which the user's credentials themselves are wrong, not their permissions. */
const BAD_CREDENTIALS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'ExpiredToken',
  'ExpiredTokenException',
  'AuthFailure',
  'InvalidToken',
  'TokenRefreshRequired',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'InvalidSecurity',
]);

const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'Forbidden',
  'AllAccessDisabled',
]);

const NOT_FOUND = new Set(['NoSuchBucket', 'NoSuchKey', 'NotFound', 'NoSuchUpload']);

const QUEUE_MISSING = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue']);

/** A receipt handle that no longer holds the message: the lease ran out (or was already settled). */
const LEASE_LOST = new Set([
  'ReceiptHandleIsInvalid',
  'MessageNotInflight',
  'AWS.SimpleQueueService.MessageNotInflight',
]);

const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'SlowDown',
  'ProvisionedThroughputExceededException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'InsufficientInstanceCapacity',
  'KMS.ThrottlingException',
  'QueueDeletedRecently',
  'AWS.SimpleQueueService.QueueDeletedRecently',
]);

/** Node/undici socket errors and SDK timeouts: the request may never have reached AWS. */
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'TimeoutError',
  'NetworkingError',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number };
}

const FAILED_CODE: Record<AwsService, ErrorCode> = { s3: 'STORAGE_FAILED', sqs: 'QUEUE_FAILED', ec2: 'FLEET_FAILED' };

/** Access keys and secrets must never reach a log line, even if a service echoes one back. */
export function redactSecrets(text: string): string {
  return text
    .replace(/\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g, '$1…')
    .replace(/(X-Amz-(?:Credential|Signature|Security-Token)=)[^&\s]+/gi, '$1…');
}

export function isAbortError(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | null;
  return !!e && (e.name === 'AbortError' || e.code === 'ABORT_ERR');
}

/** The code the SDK gives the error: the modeled name, else the raw `Code`, else a Node errno. */
function errorName(e: SdkErrorShape): string {
  if (e.name && e.name !== 'Error' && e.name !== 'UnknownError') return e.name;
  return e.Code ?? e.code ?? e.name ?? 'Error';
}

/** Wrap any error thrown by an SDK call. NommerErrors pass through untouched (wrapped once). */
export function wrapAwsError(err: unknown, ctx: AwsCallContext): NommerError {
  if (err instanceof NommerError) return err;
  const what = `${ctx.service} ${ctx.operation}${ctx.resource ? ` ${redactSecrets(ctx.resource)}` : ''}`;
  if (isAbortError(err)) return new NommerError('CANCELED', `${what}: canceled`, { cause: err });

  const e = (err ?? {}) as SdkErrorShape;
  const name = errorName(e);
  const status = e.$metadata?.httpStatusCode;
  // HEAD responses have no body, so the SDK's message is a useless "UnknownError".
  const raw = e.message && e.message !== 'UnknownError' ? redactSecrets(e.message) : status ? `HTTP ${status}` : name;
  const message = `${what}: ${name}${raw && raw !== name ? `: ${raw}` : ''}`;
  const failed = FAILED_CODE[ctx.service];
  const denied: ErrorCode = ctx.service === 's3' ? 'STORAGE_DENIED' : failed;
  const iamAction = ctx.iamAction ?? `${ctx.service}:${ctx.operation}`;

  // The SDK could not find credentials or a region: a setup problem, not a service answer.
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(e.message ?? '')) {
    return new NommerError(denied, `${what}: no AWS credentials found`, {
      cause: err,
      hint: 'set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on an instance with a role',
    });
  }
  if (/region is missing/i.test(e.message ?? '')) {
    return new NommerError('CONFIG_INVALID', `${what}: no AWS region configured`, {
      cause: err,
      hint: 'set AWS_REGION or aws.region in the nommer config',
    });
  }
  if (BAD_CREDENTIALS.has(name)) {
    return new NommerError(denied, message, {
      cause: err,
      hint: 'the AWS credentials are wrong or expired: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile, and the clock',
    });
  }
  if (DENIED.has(name) || status === 403) {
    return new NommerError(denied, message, {
      cause: err,
      hint: `the IAM policy must allow ${iamAction}${ctx.resource ? ` on ${redactSecrets(ctx.resource)}` : ''}`,
    });
  }
  if (QUEUE_MISSING.has(name)) {
    return new NommerError('QUEUE_FAILED', `${what}: the queue does not exist`, {
      cause: err,
      hint: 'run `nommer setup aws`',
    });
  }
  if (LEASE_LOST.has(name)) {
    return new NommerError('LEASE_LOST', `${what}: the lease was lost (its visibility timeout ran out)`, {
      cause: err,
      hint: 'another worker may now hold the task; extend leases more often than the lease length',
    });
  }
  if (ctx.service === 's3' && (NOT_FOUND.has(name) || status === 404)) {
    const detail =
      name === 'NoSuchBucket'
        ? 'the bucket does not exist'
        : name === 'NoSuchUpload'
          ? 'the multipart upload no longer exists'
          : 'no such object';
    return new NommerError('STORAGE_NOT_FOUND', `${what}: ${detail}`, {
      cause: err,
      hint: name === 'NoSuchBucket' ? 'check the bucket name, or run `nommer setup aws`' : undefined,
    });
  }
  const retriable =
    THROTTLED.has(name) ||
    NETWORK.has(name) ||
    NETWORK.has(e.code ?? '') ||
    !!e.$retryable ||
    e.$fault === 'server' ||
    (status !== undefined && (status >= 500 || status === 429));
  return new NommerError(failed, message, { cause: err, retriable });
}

/** True for SQS's "no such queue", before wrapping: setup treats it as "create it". */
export function isQueueMissing(err: unknown): boolean {
  const e = (err ?? {}) as SdkErrorShape;
  return QUEUE_MISSING.has(e.name ?? '') || QUEUE_MISSING.has(e.Code ?? '');
}

/** Run one SDK call and classify what it throws. */
export async function awsCall<T>(ctx: AwsCallContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw wrapAwsError(err, ctx);
  }
}
