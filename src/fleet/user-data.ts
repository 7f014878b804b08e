// Renders templates/user-data.sh, the script an EC2 worker boots with: the template is data, this
// module only fills its {{PLACEHOLDERS}} with shell-quoted values and checks the result. The
// worker config written by the script is a whitelist of the orchestrator's config — queues,
// bucket, job limits — so API tokens, webhook secrets and local paths never reach an instance.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { NommerError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { releaseUri } from './release.js';

/** EC2 refuses user-data above 16 KiB (before base64). */
export const USER_DATA_MAX_BYTES = 16 * 1024;

/** The Node.js major the script installs when the AMI has none as new. */
export const NODE_MAJOR = 20;

export interface UserDataParams {
  /** nommer version to install: feederd's own, so both speak the same message version. */
  version: string;
  /** s3:// URI of that version's package tarball. */
  packageUri: string;
  /** Hex SHA-256 the tarball must have: the script installs nothing else. */
  packageSha256: string;
  /** Region for the SDK and the download; empty: the instance's own (from the metadata service). */
  region: string;
  /** An AWS-API endpoint (emulators only); empty for AWS. */
  endpoint: string;
  idleExitSeconds: number;
  /** Worker loops per instance (aws.ec2.slotsPerInstance). */
  concurrency: number;
  /** The config the worker loads (see workerConfig). */
  workerConfig: Record<string, unknown>;
}

/** The part of the orchestrator's config a worker needs, and nothing else. */
export function workerConfig(config: Config): Record<string, unknown> {
  const aws = config.aws;
  const awsPart: Record<string, unknown> = {
    bucket: aws.bucket,
    queuePrefix: aws.queuePrefix,
    stagingPrefix: aws.stagingPrefix,
    forcePathStyle: aws.forcePathStyle,
  };
  if (aws.region) awsPart.region = aws.region;
  if (aws.endpoint) awsPart.endpoint = aws.endpoint;
  if (aws.sse) awsPart.sse = aws.sse;
  if (aws.kmsKeyId) awsPart.kmsKeyId = aws.kmsKeyId;
  return {
    backend: 'aws',
    aws: awsPart,
    jobs: { maxAttempts: config.jobs.maxAttempts, leaseSeconds: config.jobs.leaseSeconds },
  };
}

/** The parameters feederd renders with: its own version, its bucket, its ec2 settings, and the
 * release's pinned SHA-256 (see pinnedReleaseSha256). */
export function userDataParams(config: Config, version: string, packageSha256: string): UserDataParams {
  const aws = config.aws;
  if (!aws.bucket) {
    throw new NommerError('CONFIG_INVALID', 'EC2 workers need aws.bucket (nommer is installed on them from it)', {
      hint: 'set aws.bucket, then run `nommer setup aws`',
    });
  }
  return {
    version,
    packageUri: releaseUri(aws.bucket, version),
    packageSha256,
    region: aws.region ?? '',
    endpoint: aws.endpoint ?? '',
    idleExitSeconds: aws.ec2.idleExitSeconds,
    concurrency: aws.ec2.slotsPerInstance,
    workerConfig: workerConfig(config),
  };
}

export function userDataTemplatePath(): string {
  return join(packageRoot(), 'templates', 'user-data.sh');
}

export function loadUserDataTemplate(path = userDataTemplatePath()): string {
  return readFileSync(path, 'utf8');
}

/** POSIX single quotes, except for text that needs none (keeps the script readable). */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_/.:=,+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Fill the template. Throws if a value could break out of its line or a placeholder is left. */
export function renderUserData(template: string, p: UserDataParams): string {
  const json = JSON.stringify(p.workerConfig);
  const scalars: Record<string, string> = {
    NOMMER_VERSION: p.version,
    NOMMER_PACKAGE_URI: p.packageUri,
    NOMMER_PACKAGE_SHA256: p.packageSha256,
    AWS_REGION: p.region,
    AWS_ENDPOINT: p.endpoint,
    IDLE_EXIT_SECONDS: String(p.idleExitSeconds),
    CONCURRENCY: String(p.concurrency),
    NODE_MAJOR: String(NODE_MAJOR),
  };
  for (const [name, value] of Object.entries(scalars)) {
    // Placeholders also appear in comments, where a newline would start a line of code.
    if (/[\u0000-\u001f\u007f]/.test(value))
      throw new NommerError(
        'CONFIG_INVALID',
        `user-data value ${name} contains a control character: ${JSON.stringify(value)}`,
      );
  }
  if (!Number.isInteger(p.idleExitSeconds) || p.idleExitSeconds < 1)
    throw new NommerError(
      'CONFIG_INVALID',
      `idle exit must be a whole number of seconds ≥ 1, got ${p.idleExitSeconds}`,
    );
  if (!Number.isInteger(p.concurrency) || p.concurrency < 1)
    throw new NommerError('CONFIG_INVALID', `concurrency must be a whole number ≥ 1, got ${p.concurrency}`);
  if (!/^[0-9a-f]{64}$/.test(p.packageSha256))
    throw new NommerError('CONFIG_INVALID', `the release's SHA-256 must be 64 hex digits, got ${p.packageSha256}`);
  if (!p.packageUri.startsWith('s3://'))
    throw new NommerError('CONFIG_INVALID', `the nommer package must be an s3:// URI, got ${p.packageUri}`);

  const unknown = new Set<string>();
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, name: string) => {
    // JSON on one line inside a quoted heredoc: nothing in it is expanded, and it cannot end the heredoc.
    if (name === 'WORKER_CONFIG_JSON') return json;
    const v = scalars[name];
    if (v === undefined) {
      unknown.add(name);
      return `{{${name}}}`;
    }
    return v === '' ? "''" : shellWord(v);
  });
  if (unknown.size > 0)
    throw new NommerError('INTERNAL', `user-data template has unknown placeholders: ${[...unknown].join(', ')}`);
  const bytes = Buffer.byteLength(out);
  if (bytes > USER_DATA_MAX_BYTES)
    throw new NommerError(
      'CONFIG_INVALID',
      `rendered user-data is ${bytes} bytes; EC2 accepts at most ${USER_DATA_MAX_BYTES}`,
    );
  return out;
}

/** The script for this config and version, from the installed template. */
export function renderUserDataFor(
  config: Config,
  version: string,
  packageSha256: string,
  templatePath?: string,
): string {
  return renderUserData(loadUserDataTemplate(templatePath), userDataParams(config, version, packageSha256));
}
