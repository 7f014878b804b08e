// Builds the SQS, S3 and EC2 clients every aws adapter uses, from one settings object.
// Credentials and region come from the SDK's standard chain (env, profile, SSO, instance role);
// nommer never reads or stores keys itself. The endpoint is the setting when given, else the
// SDK's own AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> variables (read by @smithy/core's
// endpoint resolution in this SDK version, so nothing to do here), else AWS.
import { SQSClient } from '@aws-sdk/client-sqs';
import { S3Client } from '@aws-sdk/client-s3';
import { EC2Client } from '@aws-sdk/client-ec2';

// Node 20 is supported by nommer; the SDK's notice about its own future Node floor would be
// printed on every CLI run. Only this one warning is silenced, and only if the user hasn't chosen.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface AwsSettings {
  region?: string;
  /** e.g. http://127.0.0.1:5000 for moto or LocalStack; all services share it. */
  endpoint?: string;
  /** Address S3 buckets as http://host/bucket/key (needed by most emulators). */
  forcePathStyle?: boolean;
  /** SDK attempts per call, retries included (SDK default 3). */
  maxAttempts?: number;
}

/** Only the keys that are set: an explicit `endpoint: undefined` must not hide the env variables. */
function baseConfig(s: AwsSettings): { region?: string; endpoint?: string; maxAttempts?: number } {
  const config: { region?: string; endpoint?: string; maxAttempts?: number } = {};
  if (s.region) config.region = s.region;
  if (s.endpoint) config.endpoint = s.endpoint;
  if (s.maxAttempts !== undefined) config.maxAttempts = s.maxAttempts;
  return config;
}

export function sqsClient(settings: AwsSettings = {}): SQSClient {
  return new SQSClient(baseConfig(settings));
}

export function s3Client(settings: AwsSettings = {}): S3Client {
  return new S3Client({ ...baseConfig(settings), ...(settings.forcePathStyle ? { forcePathStyle: true } : {}) });
}

export function ec2Client(settings: AwsSettings = {}): EC2Client {
  return new EC2Client(baseConfig(settings));
}

export interface AwsClients {
  sqs: SQSClient;
  s3: S3Client;
  ec2: EC2Client;
}

/** All three, sharing the settings. Clients are cheap until first used. */
export function awsClients(settings: AwsSettings = {}): AwsClients {
  return { sqs: sqsClient(settings), s3: s3Client(settings), ec2: ec2Client(settings) };
}
