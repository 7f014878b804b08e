// IAM users on a moto server started with INITIAL_NO_AUTH_ACTION_COUNT (see AWS-EMULATION.md):
// each user costs 3 unchecked requests (CreateUser, PutUserPolicy, CreateAccessKey); every
// request after those is checked against the caller's policy. Policies are the printed ones,
// plus moto's own names for the same grants (forMoto).
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import type { PolicyDocument } from '../../src/adapters/aws/setup.js';

/** Requests made unchecked per user created by iamUsers. */
export const UNCHECKED_PER_USER = 3;

export interface Creds {
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
}

/**
 * The printed policy, plus moto's own names for the same grants:
 * - moto names two S3 actions its own way: HEAD on a bucket is `s3:HeadBucket` (IAM:
 *   s3:ListBucket) and the public access block is `s3:PutPublicAccessBlock` (IAM:
 *   s3:PutBucketPublicAccessBlock); the same grant is added under moto's name.
 * - moto checks CreateQueue and GetQueueUrl against resource `*` (it finds the queue only from a
 *   QueueUrl parameter, and these two name it by QueueName; IAM checks the queue's ARN), so a
 *   policy that grants them on its queues gets them on `*` under moto.
 * - moto checks every EC2 action against resource `*` (IAM checks the instance's ARN), so an EC2
 *   grant on instance ARNs is granted on `*` under moto. (moto evaluates no condition keys either:
 *   what a Condition limits is not proven on moto.)
 */
export function forMoto(doc: PolicyDocument): PolicyDocument {
  const alias: Record<string, string> = {
    's3:ListBucket': 's3:HeadBucket',
    's3:PutBucketPublicAccessBlock': 's3:PutPublicAccessBlock',
  };
  const onEc2 = (s: PolicyDocument['Statement'][number]) =>
    s.Action.every((a) => a.startsWith('ec2:')) && [s.Resource].flat().some((r) => r.startsWith('arn:'));
  const statements = doc.Statement.map((s) => ({
    ...s,
    Action: [...s.Action, ...s.Action.flatMap((a) => (alias[a] ? [alias[a]] : []))],
    ...(onEc2(s) ? { Resource: [...[s.Resource].flat(), '*'] } : {}),
  }));
  const byName = [
    ...new Set(
      doc.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) =>
        s.Action.filter((a) => a === 'sqs:CreateQueue' || a === 'sqs:GetQueueUrl'),
      ),
    ),
  ];
  if (byName.length > 0)
    statements.push({ Sid: 'MotoChecksQueueNamesAgainstStar', Effect: 'Allow', Action: byName, Resource: '*' });
  return { ...doc, Statement: statements };
}

/** One IAM user per policy (named nommer-<role>), each with an access key. */
export async function iamUsers<R extends string>(
  endpoint: string,
  region: string,
  policies: Record<R, PolicyDocument>,
): Promise<Record<R, Creds>> {
  const iam = new IAMClient({ endpoint, region, maxAttempts: 1 });
  const creds = {} as Record<R, Creds>;
  try {
    for (const role of Object.keys(policies) as R[]) {
      const UserName = `nommer-${role}`;
      await iam.send(new CreateUserCommand({ UserName }));
      await iam.send(
        new PutUserPolicyCommand({
          UserName,
          PolicyName: UserName,
          PolicyDocument: JSON.stringify(forMoto(policies[role])),
        }),
      );
      const key = (await iam.send(new CreateAccessKeyCommand({ UserName }))).AccessKey!;
      creds[role] = { AWS_ACCESS_KEY_ID: key.AccessKeyId!, AWS_SECRET_ACCESS_KEY: key.SecretAccessKey! };
    }
  } finally {
    iam.destroy();
  }
  return creds;
}

/** The environment of a nommer process that runs as this user. */
export function envOf(c: Creds, region: string): NodeJS.ProcessEnv {
  return { ...c, AWS_REGION: region, AWS_EC2_METADATA_DISABLED: 'true' };
}

/** SDK client settings for this user on moto: one attempt, so a denial fails at once. */
export function clientConfigOf(endpoint: string, region: string, c: Creds) {
  return {
    endpoint,
    region,
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: c.AWS_ACCESS_KEY_ID, secretAccessKey: c.AWS_SECRET_ACCESS_KEY },
  };
}
