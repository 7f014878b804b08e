// How SDK errors become NommerErrors: one classification, where the call is made. Pure: the
// error objects below have the shapes the SDK v3 throws (name, $fault, $metadata, Code).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactSecrets, wrapAwsError } from '../src/adapters/aws/errors.js';
import { NommerError } from '../src/errors.js';

function sdkError(name: string, status?: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $fault: status && status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    ...extra,
  });
}

describe('wrapAwsError', () => {
  it('throttling, 5xx and network failures are retriable', () => {
    for (const err of [
      sdkError('ThrottlingException', 400),
      sdkError('SlowDown', 503),
      sdkError('InternalError', 500),
      sdkError('RequestLimitExceeded', 400),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      sdkError('TimeoutError'),
    ]) {
      const e = wrapAwsError(err, { service: 's3', operation: 'GetObject', resource: 's3://b/k' });
      assert.equal(e.code, 'STORAGE_FAILED', err.name);
      assert.equal(e.retriable, true, err.name);
    }
    assert.equal(
      wrapAwsError(sdkError('ThrottlingException', 400), { service: 'ec2', operation: 'RunInstances' }).code,
      'FLEET_FAILED',
    );
  });

  it('a denial names the IAM action that is missing, per service', () => {
    const s3 = wrapAwsError(sdkError('AccessDenied', 403), {
      service: 's3',
      operation: 'PutObject',
      resource: 's3://b/k',
    });
    assert.equal(s3.code, 'STORAGE_DENIED');
    assert.match(s3.hint!, /s3:PutObject on s3:\/\/b\/k/);
    const sqs = wrapAwsError(sdkError('AccessDenied', 403), {
      service: 'sqs',
      operation: 'SendMessage',
      resource: 'nommer-jobs',
    });
    assert.equal(sqs.code, 'QUEUE_FAILED');
    assert.equal(sqs.retriable, false);
    assert.match(sqs.hint!, /sqs:SendMessage/);
    // A bare 403 without a code (as S3 answers a bucket-policy deny to HEAD) is a denial too.
    assert.equal(
      wrapAwsError(sdkError('UnknownError', 403), { service: 's3', operation: 'HeadObject' }).code,
      'STORAGE_DENIED',
    );
  });

  it('a missing queue says to run setup; missing buckets and keys are STORAGE_NOT_FOUND', () => {
    const q = wrapAwsError(sdkError('QueueDoesNotExist', 400, { Code: 'AWS.SimpleQueueService.NonExistentQueue' }), {
      service: 'sqs',
      operation: 'GetQueueUrl',
      resource: 'x-jobs',
    });
    assert.equal(q.code, 'QUEUE_FAILED');
    assert.equal(q.hint, 'run `nommer setup aws`');
    assert.equal(
      wrapAwsError(sdkError('NoSuchKey', 404), { service: 's3', operation: 'GetObject' }).code,
      'STORAGE_NOT_FOUND',
    );
    assert.equal(
      wrapAwsError(sdkError('NotFound', 404), { service: 's3', operation: 'HeadObject' }).code,
      'STORAGE_NOT_FOUND',
    );
  });

  it('a missing region or credentials is reported as setup to do, not a service failure', () => {
    assert.equal(
      wrapAwsError(new Error('Region is missing'), { service: 'sqs', operation: 'SendMessage' }).code,
      'CONFIG_INVALID',
    );
    const creds = wrapAwsError(
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      { service: 's3', operation: 'GetObject' },
    );
    assert.equal(creds.code, 'STORAGE_DENIED');
    assert.match(creds.hint!, /AWS_PROFILE/);
  });

  it('wraps once: a NommerError passes through, an abort is CANCELED', () => {
    const mine = new NommerError('OUTPUT_EXISTS', 'already there');
    assert.equal(wrapAwsError(mine, { service: 's3', operation: 'PutObject' }), mine);
    assert.equal(
      wrapAwsError(Object.assign(new Error('aborted'), { name: 'AbortError' }), {
        service: 'sqs',
        operation: 'ReceiveMessage',
      }).code,
      'CANCELED',
    );
  });

  it('access keys and presigned signatures never reach a message', () => {
    const e = wrapAwsError(sdkError('InvalidAccessKeyId', 403, { message: 'key AKIAIOSFODNN7EXAMPLE is unknown' }), {
      service: 's3',
      operation: 'GetObject',
      resource: 'https://h/x?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F2024&X-Amz-Signature=abc',
    });
    assert.ok(!/IOSFODNN7EXAMPLE|abc/.test(e.message + (e.hint ?? '')), e.message);
    assert.equal(redactSecrets('AKIAIOSFODNN7EXAMPLE'), 'AKIA…');
  });
});
