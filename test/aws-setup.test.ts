// `nommer setup aws` against moto: creates the bucket and queues once, a second run finds them
// and changes nothing, a dry run only reads, drift is repaired; and the IAM policies are sane.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  GetBucketLifecycleConfigurationCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  PutBucketLifecycleConfigurationCommand,
} from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ListQueuesCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { s3Client, sqsClient, type AwsSettings } from '../src/adapters/aws/clients.js';
import {
  iamPolicies,
  setupAws,
  STAGING_EXPIRE_DAYS,
  type PolicyDocument,
  type SetupReport,
} from '../src/adapters/aws/setup.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { DRAIN_TAG } from '../src/fleet/drain.js';

const actions = (r: SetupReport) => Object.fromEntries(r.items.map((i) => [i.name, i.action]));

describe('setupAws (moto)', () => {
  let moto: Moto;
  let settings: AwsSettings;
  const options = { bucket: 'nommer-setup-test', queuePrefix: 'st' };

  before(async () => {
    moto = await startMoto();
    settings = { endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 };
  });
  after(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
  });

  const queueAttributes = async (url: string) =>
    (await sqsClient(settings).send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
      .Attributes!;

  it('the first run creates the bucket and four queues: jobs wired to the DLQ, and the ingest queue S3 may send to', async () => {
    const report = await setupAws(settings, { ...options, maxReceiveCount: 4 });
    assert.deepEqual(actions(report), {
      'nommer-setup-test': 'created',
      'st-dlq': 'created',
      'st-jobs': 'created',
      'st-status': 'created',
      'st-ingest': 'created',
    });
    const ingest = report.items.find((i) => i.name === 'st-ingest')!;
    const policy = JSON.parse((await queueAttributes(ingest.url!)).Policy!);
    assert.deepEqual(policy.Statement[0].Condition.ArnLike, { 'aws:SourceArn': ['arn:aws:s3:::nommer-setup-test'] });
    assert.ok(report.queueUrls);
    await s3Client(settings).send(new HeadBucketCommand({ Bucket: options.bucket }));
    const lifecycle = await s3Client(settings).send(
      new GetBucketLifecycleConfigurationCommand({ Bucket: options.bucket }),
    );
    assert.equal(lifecycle.Rules?.[0]?.AbortIncompleteMultipartUpload?.DaysAfterInitiation, 1);
    const staging = lifecycle.Rules?.find((r) => r.ID === 'nommer-expire-staging');
    assert.equal(staging?.Filter?.Prefix, 'nommer-staging/');
    assert.equal(staging?.Expiration?.Days, STAGING_EXPIRE_DAYS);
    assert.ok(STAGING_EXPIRE_DAYS > 14, 'staged inputs outlive a job waiting the 14 days SQS keeps it');

    const jobs = await queueAttributes(report.queueUrls.jobs);
    const dlq = await queueAttributes(report.queueUrls.dlq);
    const redrive = JSON.parse(jobs.RedrivePolicy!);
    assert.equal(redrive.deadLetterTargetArn, dlq.QueueArn);
    assert.equal(Number(redrive.maxReceiveCount), 4);
    // AWS's real limit, not moto's 1 MiB default.
    assert.equal(jobs.MaximumMessageSize, '262144');
    assert.equal(dlq.MaximumMessageSize, '262144');
    assert.equal(jobs.VisibilityTimeout, '120');
  });

  /** Clients that record every command they send, to prove a run only read. */
  function recordingClients(sent: string[]) {
    const s3 = s3Client(settings);
    const sqs = sqsClient(settings);
    s3.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(context.commandName!);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    sqs.middlewareStack.add(
      (next, context) => (args) => {
        sent.push(context.commandName!);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    return { s3, sqs };
  }
  const WRITES = /^(Create|Put|Set|Delete|Tag)/;

  it('a second run finds everything and creates or changes nothing', async () => {
    const first = await setupAws(settings, options);
    const sent: string[] = [];
    const second = await setupAws(settings, { ...options, clients: recordingClients(sent) });
    assert.deepEqual(new Set(second.items.map((i) => i.action)), new Set(['exists']));
    assert.ok(second.items.every((i) => !i.changes));
    assert.deepEqual(second.queueUrls, first.queueUrls);
    assert.ok(sent.length > 0);
    assert.deepEqual(
      sent.filter((c) => WRITES.test(c)),
      [],
      `only reads: ${sent.join(', ')}`,
    );
    assert.equal((await sqsClient(settings).send(new ListQueuesCommand({}))).QueueUrls?.length, 4);
  });

  it('a dry run reports what it would create and creates nothing', async () => {
    const sent: string[] = [];
    const report = await setupAws(settings, { ...options, dryRun: true, clients: recordingClients(sent) });
    assert.equal(report.dryRun, true);
    assert.deepEqual(
      sent.filter((c) => WRITES.test(c)),
      [],
    );
    assert.deepEqual(new Set(report.items.map((i) => i.action)), new Set(['would-create']));
    assert.equal(report.queueUrls, undefined);
    assert.equal((await s3Client(settings).send(new ListBucketsCommand({}))).Buckets?.length ?? 0, 0);
    assert.equal((await sqsClient(settings).send(new ListQueuesCommand({}))).QueueUrls?.length ?? 0, 0);
  });

  it('a queue whose settings drifted is reported, left alone by a dry run, and put back by a real run', async () => {
    const first = await setupAws(settings, options);
    await sqsClient(settings).send(
      new SetQueueAttributesCommand({ QueueUrl: first.queueUrls!.status, Attributes: { VisibilityTimeout: '5' } }),
    );
    const dry = await setupAws(settings, { ...options, dryRun: true, maxReceiveCount: 5 });
    assert.deepEqual(actions(dry), {
      'nommer-setup-test': 'exists',
      'st-dlq': 'exists',
      'st-jobs': 'would-update',
      'st-status': 'would-update',
      'st-ingest': 'exists',
    });
    assert.deepEqual(dry.items.find((i) => i.name === 'st-status')?.changes, ['VisibilityTimeout: 5 -> 60']);
    assert.equal((await queueAttributes(first.queueUrls!.status)).VisibilityTimeout, '5', 'dry run changed nothing');

    const fixed = await setupAws(settings, { ...options, maxReceiveCount: 5 });
    assert.equal(actions(fixed)['st-status'], 'updated');
    assert.match(fixed.items.find((i) => i.name === 'st-jobs')!.changes!.join(), /RedrivePolicy/);
    assert.equal(Number(JSON.parse((await queueAttributes(first.queueUrls!.jobs)).RedrivePolicy!).maxReceiveCount), 5);
    assert.deepEqual(
      new Set((await setupAws(settings, { ...options, maxReceiveCount: 5 })).items.map((i) => i.action)),
      new Set(['exists']),
    );
    // Another bucket whose events the ingest queue must take (aws.allowedPrefixes): its policy is put right.
    const more = await setupAws(settings, { ...options, maxReceiveCount: 5, eventBuckets: ['uploads'] });
    assert.equal(actions(more)['st-ingest'], 'updated');
    assert.match(more.items.find((i) => i.name === 'st-ingest')!.changes!.join(), /^Policy: /);
    const ingestUrl = more.items.find((i) => i.name === 'st-ingest')!.url!;
    assert.deepEqual(JSON.parse((await queueAttributes(ingestUrl)).Policy!).Statement[0].Condition.ArnLike, {
      'aws:SourceArn': ['arn:aws:s3:::nommer-setup-test', 'arn:aws:s3:::uploads'],
    });
  });

  it("an existing bucket gets nommer's missing lifecycle rules added beside its owner's, once", async () => {
    const s3 = s3Client(settings);
    await s3.send(new CreateBucketCommand({ Bucket: options.bucket }));
    const ownersRule = {
      ID: 'owners-logs',
      Status: 'Enabled' as const,
      Filter: { Prefix: 'logs/' },
      Expiration: { Days: 3 },
    };
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: options.bucket,
        LifecycleConfiguration: { Rules: [ownersRule] },
      }),
    );
    const dry = await setupAws(settings, { ...options, dryRun: true, stagingPrefix: 'stage/' });
    assert.equal(actions(dry)['nommer-setup-test'], 'would-update');
    assert.equal(
      (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: options.bucket }))).Rules?.length,
      1,
      'a dry run changes no rule',
    );
    const report = await setupAws(settings, { ...options, stagingPrefix: 'stage/' });
    const bucket = report.items.find((i) => i.kind === 'bucket')!;
    assert.equal(bucket.action, 'updated');
    assert.deepEqual(bucket.changes, [
      'lifecycle: abort incomplete multipart uploads after 1 day',
      `lifecycle: expire stage/ after ${STAGING_EXPIRE_DAYS} days`,
    ]);
    const rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: options.bucket }))).Rules ?? [];
    assert.deepEqual(rules.map((r) => r.ID).sort(), [
      'nommer-abort-incomplete-uploads',
      'nommer-expire-staging',
      'owners-logs',
    ]);
    assert.equal(rules.find((r) => r.ID === 'owners-logs')?.Expiration?.Days, 3, "the owner's rule is kept as it was");
    assert.equal(rules.find((r) => r.ID === 'nommer-expire-staging')?.Filter?.Prefix, 'stage/');
    const again = await setupAws(settings, { ...options, stagingPrefix: 'stage/' });
    assert.equal(actions(again)['nommer-setup-test'], 'exists');
  });

  it('bad options are refused before any call', async () => {
    await assert.rejects(setupAws(settings, { ...options, maxReceiveCount: 0 }), { code: 'CONFIG_INVALID' });
    await assert.rejects(setupAws(settings, { ...options, queuePrefix: 'has space' }), { code: 'CONFIG_INVALID' });
  });
});

describe('iamPolicies', () => {
  const { orchestrator, worker } = iamPolicies(
    { region: 'eu-west-1' },
    { bucket: 'media', queuePrefix: 'nm', accountId: '123456789012' },
  );
  // An explicit Deny wins (resources match exactly or by a trailing '*', as IAM does).
  const matches = (pattern: string, resource: string) =>
    pattern === resource || (pattern.endsWith('*') && resource.startsWith(pattern.slice(0, -1)));
  const grants = (doc: PolicyDocument, effect: 'Allow' | 'Deny', action: string, resource: string) =>
    doc.Statement.some(
      (s) => s.Effect === effect && s.Action.includes(action) && [s.Resource].flat().some((p) => matches(p, resource)),
    );
  const allows = (doc: PolicyDocument, action: string, resource: string) =>
    grants(doc, 'Allow', action, resource) && !grants(doc, 'Deny', action, resource);
  const q = (name: string) => `arn:aws:sqs:eu-west-1:123456789012:${name}`;

  it('are valid IAM JSON documents', () => {
    for (const doc of [
      orchestrator,
      worker,
      iamPolicies({ region: 'eu-west-1' }, { bucket: 'media', queuePrefix: 'nm' }).setup,
    ]) {
      const parsed = JSON.parse(JSON.stringify(doc)) as PolicyDocument;
      assert.equal(parsed.Version, '2012-10-17');
      assert.ok(parsed.Statement.length > 0);
      const sids = parsed.Statement.map((s) => s.Sid);
      assert.equal(new Set(sids).size, sids.length, 'unique Sids');
      for (const s of parsed.Statement.filter((x) => !x.Sid.startsWith('Never'))) {
        assert.equal(s.Effect, 'Allow');
        assert.ok(
          s.Action.every((a) => /^(sqs|s3|ec2|iam):[A-Za-z]+$/.test(a)),
          s.Action.join(),
        );
        assert.ok(
          [s.Resource].flat().every((r) => r === '*' || r.startsWith('arn:aws:')),
          String(s.Resource),
        );
      }
    }
  });

  it('the orchestrator sends jobs, reads status, stages inputs and runs the fleet', () => {
    assert.ok(allows(orchestrator, 'sqs:SendMessage', q('nm-jobs')));
    assert.ok(allows(orchestrator, 'sqs:ReceiveMessage', q('nm-status')));
    assert.ok(allows(orchestrator, 'sqs:DeleteMessage', q('nm-status')));
    assert.ok(allows(orchestrator, 'sqs:GetQueueAttributes', q('nm-jobs')));
    assert.ok(allows(orchestrator, 's3:PutObject', 'arn:aws:s3:::media/nommer-staging/*'));
    assert.ok(allows(orchestrator, 's3:GetObject', 'arn:aws:s3:::media/nommer-staging/*'));
    for (const a of [
      'ec2:RunInstances',
      'ec2:TerminateInstances',
      'ec2:DescribeInstances',
      'ec2:CreateTags',
      'iam:PassRole',
    ]) {
      assert.ok(
        orchestrator.Statement.some((s) => s.Action.includes(a)),
        a,
      );
    }
    assert.ok(allows(orchestrator, 'iam:PassRole', 'arn:aws:iam::123456789012:role/nm-worker'));
    // Watched S3 prefixes: routes in the bucket's notifications, events taken off the ingest queue.
    assert.ok(allows(orchestrator, 's3:GetBucketNotification', 'arn:aws:s3:::media'));
    assert.ok(allows(orchestrator, 's3:PutBucketNotification', 'arn:aws:s3:::media'));
    for (const a of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'])
      assert.ok(allows(orchestrator, a, q('nm-ingest')), a);
    assert.ok(!allows(orchestrator, 'sqs:SendMessage', q('nm-ingest')), 'S3 sends the events, not feederd');
    assert.ok(!allows(orchestrator, 'sqs:SetQueueAttributes', q('nm-ingest')), 'nor may it change who may send');
    // Least privilege: the orchestrator never takes jobs off the queue or reports status.
    assert.ok(!allows(orchestrator, 'sqs:ReceiveMessage', q('nm-jobs')));
    assert.ok(!allows(orchestrator, 'sqs:SendMessage', q('nm-status')));
  });

  it('a worker leases jobs, reports status, rejects to the DLQ and reads/writes the bucket, and nothing else', () => {
    for (const a of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'])
      assert.ok(allows(worker, a, q('nm-jobs')), a);
    assert.ok(allows(worker, 'sqs:SendMessage', q('nm-status')));
    assert.ok(allows(worker, 'sqs:SendMessage', q('nm-dlq')));
    assert.ok(allows(worker, 's3:GetObject', 'arn:aws:s3:::media/*'));
    assert.ok(allows(worker, 's3:PutObject', 'arn:aws:s3:::media/*'));
    assert.ok(!allows(worker, 'sqs:SendMessage', q('nm-jobs')), 'workers do not enqueue jobs');
    assert.ok(
      !allows(worker, 's3:PutObject', 'arn:aws:s3:::media/nommer-releases/media-nommer-0.1.0.tgz'),
      'nor replace the release every instance installs',
    );
    assert.ok(!allows(worker, 's3:PutObject', 'arn:aws:s3:::media/nommer-control/fence/j_1.json'), 'nor touch a fence');
    assert.ok(allows(worker, 's3:PutObject', 'arn:aws:s3:::media/out/clip.webm'), 'outputs elsewhere are fine');
    assert.ok(
      worker.Statement.every((s) => s.Action.every((a) => !a.startsWith('ec2:') && !a.startsWith('iam:'))),
      'no fleet or IAM rights',
    );
    assert.ok(
      worker.Statement.every((s) => s.Resource !== '*'),
      'every worker right is scoped to a resource',
    );
  });

  it("terminating can be limited to the cluster's tagged instances", () => {
    const scoped = iamPolicies(
      { region: 'eu-west-1' },
      { bucket: 'media', queuePrefix: 'nm', clusterTag: { key: 'nommer:cluster', value: 'nm' } },
    );
    const stop = scoped.orchestrator.Statement.find((s) => s.Action.includes('ec2:TerminateInstances'))!;
    assert.deepEqual(stop.Condition, { StringEquals: { 'aws:ResourceTag/nommer:cluster': 'nm' } });
  });

  it("draining may write and remove the drain tag only, on the cluster's instances only", () => {
    const scoped = iamPolicies(
      { region: 'eu-west-1' },
      { bucket: 'media', queuePrefix: 'nm', clusterTag: { key: 'nommer:cluster', value: 'nm' } },
    );
    const tagging = scoped.orchestrator.Statement.filter((s) =>
      s.Action.some((a) => a === 'ec2:CreateTags' || a === 'ec2:DeleteTags'),
    );
    const drain = tagging.find((s) => s.Sid === 'DrainWorkers')!;
    assert.deepEqual(drain.Action, ['ec2:CreateTags', 'ec2:DeleteTags']);
    assert.equal(drain.Resource, 'arn:aws:ec2:eu-west-1:*:instance/*');
    // ForAllValues holds for a request without keys (a DeleteTags that names no tag deletes every
    // tag, the cluster's too): Null makes the request name its keys.
    assert.deepEqual(drain.Condition, {
      Null: { 'aws:TagKeys': 'false' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': [DRAIN_TAG] },
      StringEquals: { 'aws:ResourceTag/nommer:cluster': 'nm' },
    });
    // The only other tagging right is at launch; nothing else may remove a tag.
    assert.deepEqual(
      tagging.filter((s) => s !== drain).map((s) => [s.Action, s.Condition]),
      [[['ec2:CreateTags'], { StringEquals: { 'ec2:CreateAction': ['RunInstances'] } }]],
    );
  });

  it('with aws.allowedPrefixes, workers read and write only there (plus staging, fences and release to read)', () => {
    const scoped = iamPolicies(
      { region: 'eu-west-1' },
      { bucket: 'media', queuePrefix: 'nm', allowedPrefixes: ['s3://media/videos/', 's3://archive/in/'] },
    );
    const w = scoped.worker;
    for (const a of ['s3:GetObject', 's3:PutObject']) {
      assert.ok(allows(w, a, 'arn:aws:s3:::media/videos/clip.webm'), a);
      assert.ok(allows(w, a, 'arn:aws:s3:::archive/in/clip.mov'), a);
      assert.ok(allows(w, a, 'arn:aws:s3:::media/nommer-staging/chunks/j/0.webm'), `${a} staging`);
      assert.ok(!allows(w, a, 'arn:aws:s3:::media/private/salaries.csv'), `${a} elsewhere in the bucket`);
    }
    assert.ok(allows(w, 's3:GetObject', 'arn:aws:s3:::media/nommer-control/fence/j_1.json'));
    assert.ok(allows(w, 's3:GetObject', 'arn:aws:s3:::media/nommer-releases/media-nommer-0.1.0.tgz'));
    assert.ok(!allows(w, 's3:PutObject', 'arn:aws:s3:::media/nommer-control/fence/j_1.json'));
    assert.ok(allows(w, 's3:ListBucket', 'arn:aws:s3:::archive'));
    assert.ok(allows(scoped.orchestrator, 's3:DeleteObject', 'arn:aws:s3:::media/videos/late.webm'));
    assert.ok(!allows(scoped.orchestrator, 's3:DeleteObject', 'arn:aws:s3:::media/private/salaries.csv'));
    for (const key of ['nommer-releases/media-nommer-0.1.0.tgz', 'nommer-control/fence/j_1.json']) {
      assert.ok(!allows(orchestrator, 's3:DeleteObject', `arn:aws:s3:::media/${key}`), `feederd never deletes ${key}`);
      assert.ok(allows(orchestrator, 's3:DeleteObject', 'arn:aws:s3:::media/out/late.webm'));
    }
    assert.throws(
      () => iamPolicies({}, { bucket: 'media', queuePrefix: 'nm', allowedPrefixes: ['media/videos'] }),
      /not an S3 location/,
    );
  });

  it('setup may create the bucket and queues and publish the release, and nothing of the cluster at work', () => {
    const { setup } = iamPolicies(
      { region: 'eu-west-1' },
      { bucket: 'media', queuePrefix: 'nm', accountId: '123456789012' },
    );
    assert.ok(allows(setup, 's3:CreateBucket', 'arn:aws:s3:::media'));
    assert.ok(allows(setup, 's3:PutLifecycleConfiguration', 'arn:aws:s3:::media'));
    assert.ok(allows(setup, 'sqs:CreateQueue', q('nm-jobs')));
    assert.ok(allows(setup, 's3:PutObject', 'arn:aws:s3:::media/nommer-releases/media-nommer-0.1.0.tgz'));
    assert.ok(!allows(setup, 's3:PutObject', 'arn:aws:s3:::media/out/x.webm'));
    assert.ok(!allows(setup, 'sqs:ReceiveMessage', q('nm-jobs')));
    assert.ok(setup.Statement.every((s) => s.Resource !== '*'));
  });
});
