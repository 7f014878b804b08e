// What a job cost: the worker-seconds its tasks held a slot (every attempt counted, from its
// start to its end) and those seconds priced at what a slot cost when the job was made.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { StatusEvent } from '../src/messages.js';
import type { PublicJob } from '../src/orchestrator/api.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { nommer } from './helpers/cli.js';
import { assertOneProbeOneEncode, countedTools } from './helpers/counted-tools.js';
import { isFinal, startFeederd, waitForJob } from './helpers/feederd.js';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { localPathOf } from '../src/uri.js';
import { statusEvent } from './helpers/store.js';

const d = tempDir('nommer-cost-');
after(() => d.cleanup());

const T0 = 1_700_000_000_000;
function ev(jobId: string, attempt: number, seq: number, type: StatusEvent['type'], at: number): StatusEvent {
  return statusEvent(jobId, seq, type, { attempt, at });
}

test('every attempt adds the time it held its slot: a released attempt, then a retry that succeeds', () => {
  const store = openStore(join(d.path, 'store.db'));
  try {
    const { job } = store.createJob(
      {
        input: 'file:///media/in.mp4',
        outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: 'file:///media/out.webm' }],
        options: { pricing: { usdPerSlotHour: 3.6, basis: 'test: $3.60/h per slot' } },
      },
      T0,
    );
    assert.deepEqual(job.cost, {
      workerSeconds: 0,
      usd: 0,
      perOutputMinute: null,
      outputMinutes: null,
      hdOutputMinutes: null,
      basis: 'test: $3.60/h per slot',
    });
    assert.ok(store.applyStatusEvent(ev(job.id, 1, 1, 'started', T0 + 1000), T0 + 1000).applied);
    // The worker gives it back after 5 s (shutting down): 5 s held.
    assert.ok(store.applyStatusEvent(ev(job.id, 1, 2, 'released', T0 + 6000), T0 + 6000).applied);
    const again = store.getJob(job.id)!;
    assert.equal(again.workerMs, 5000);
    const attempt = again.tasks[0]!.attempt;
    assert.ok(store.applyStatusEvent(ev(job.id, attempt, 1001, 'started', T0 + 10_000), T0 + 10_000).applied);
    assert.ok(
      store.applyStatusEvent(
        {
          ...ev(job.id, attempt, 1002, 'succeeded', T0 + 13_500),
          outputs: [{ uri: 'file:///media/out.webm', bytes: 1 }],
        },
        T0 + 13_500,
      ).applied,
    );
    const done = store.getJob(job.id)!;
    assert.equal(done.state, 'succeeded');
    assert.equal(done.workerMs, 8500);
    assert.deepEqual(done.cost, {
      workerSeconds: 8.5,
      usd: 0.0085,
      perOutputMinute: null,
      outputMinutes: null,
      hdOutputMinutes: null,
      basis: 'test: $3.60/h per slot',
    });
  } finally {
    store.close();
  }
});

test('output minutes from the worker-measured outputs: the sum over outputs, HD from 720 lines, and $ per output minute', () => {
  const store = openStore(join(d.path, 'media.db'));
  try {
    const sd = 'file:///media/sd.webm';
    const hd = 'file:///media/hd.webm';
    const { job } = store.createJob(
      {
        input: 'file:///media/in.mp4',
        outputs: [
          { preset: { name: 'webm', container: 'webm' }, uri: sd },
          { preset: { name: 'webm', container: 'webm' }, uri: hd },
        ],
        options: { pricing: { usdPerSlotHour: 3.6, basis: 'test: $3.60/h per slot' } },
      },
      T0,
    );
    assert.ok(store.applyStatusEvent(ev(job.id, 1, 1, 'started', T0), T0).applied);
    // A result whose media list is malformed is ignored, not fatal.
    const media = [
      { uri: sd, seconds: 90, height: 480 },
      { uri: hd, seconds: 30, height: 720 },
    ];
    assert.ok(
      store.applyStatusEvent(
        {
          ...ev(job.id, 1, 2, 'succeeded', T0 + 12_000),
          outputs: [
            { uri: sd, bytes: 1 },
            { uri: hd, bytes: 1 },
          ],
          result: { media },
        },
        T0 + 12_000,
      ).applied,
    );
    const c = store.getJob(job.id)!.cost;
    assert.equal(c.usd, 0.012, '12 s at $3.60/h');
    assert.equal(c.outputMinutes, 2, '90 s + 30 s of output');
    assert.equal(c.hdOutputMinutes, 0.5, 'the 720-line output is HD, the 480-line one SD');
    assert.equal(c.perOutputMinute, 0.006);
  } finally {
    store.close();
  }
});

test('a malformed media list in a result leaves the output minutes unknown', () => {
  const store = openStore(join(d.path, 'media-bad.db'));
  try {
    const { job } = store.createJob(
      {
        input: 'file:///media/in.mp4',
        outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: 'file:///media/o.webm' }],
        options: { pricing: { usdPerSlotHour: 3.6, basis: 'test' } },
      },
      T0,
    );
    store.applyStatusEvent(ev(job.id, 1, 1, 'started', T0), T0);
    store.applyStatusEvent(
      { ...ev(job.id, 1, 2, 'succeeded', T0 + 1000), result: { media: [{ uri: 'x', seconds: -1 }] } },
      T0 + 1000,
    );
    const c = store.getJob(job.id)!.cost;
    assert.equal(c.usd, 0.001);
    assert.equal(c.outputMinutes, null);
    assert.equal(c.perOutputMinute, null);
  } finally {
    store.close();
  }
});

test('a local job at local.costPerHour records the worker-seconds its slot was held (within its run), and the matching dollars', async () => {
  // quality.measure off in feederd's own config: a job posted to the API is not measured either.
  const refs = [
    { name: 'Test Transcoder', sd: 0.01, hd: 0.02, source: 'test.example/pricing', recorded: '2027-01-02' },
  ];
  const tools = countedTools();
  const f = await startFeederd(d.path, {
    workers: 1,
    config: { local: { costPerHour: 36 }, quality: { measure: false }, cost: { referencePrices: refs } },
    env: tools.env,
  });
  let jobId = '';
  try {
    const clip = makeClip(join(d.path, 'c.mp4'), { seconds: 2, width: 160, height: 120 });
    const { job } = await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'webm' }],
    });
    const done = await waitForJob(f.client, job.id, isFinal, 90_000);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const cost = (done as PublicJob & { cost?: { workerSeconds: number; usd: number; basis: string } }).cost;
    assert.ok(cost, 'the record has a cost');
    const run = (Date.parse(done.finishedAt!) - Date.parse(done.startedAt!)) / 1000;
    // The slot was held from the task's start to its end, both inside the job's run; how much of
    // the run's tail is feederd applying the success and delivering depends on the machine's speed
    // (1.104 s held vs a 1.258 s run once under load), so only the bounds are checked.
    assert.ok(cost.workerSeconds > 0);
    assert.ok(cost.workerSeconds <= run + 0.001, `${cost.workerSeconds} s held vs run ${run} s`);
    assert.equal(cost.usd, Math.round(cost.workerSeconds * 0.01 * 1e6) / 1e6, '$36/h is $0.01 a second');
    assert.match(cost.basis, /local\.costPerHour: \$36\/h per local worker slot/);
    const quality = (done.outputs[0] as { quality?: { ssim?: number; skipped?: string } }).quality;
    assert.equal(quality?.ssim, undefined, 'not measured');
    assert.match(quality?.skipped ?? '', /./, 'the record says why not');
    // Output minutes: the encoded file's own length (ffprobe here, independently of the worker).
    const outSeconds = Number(probe(localPathOf(done.outputs[0]!.uri)).format.duration);
    const c = cost as typeof cost & { outputMinutes: number; hdOutputMinutes: number; perOutputMinute: number };
    assert.ok(outSeconds > 1.5, `a 2 s clip made ${outSeconds} s of output`);
    assert.ok(Math.abs(c.outputMinutes * 60 - outSeconds) < 0.001, `${c.outputMinutes} min vs ${outSeconds} s`);
    assert.equal(c.hdOutputMinutes, 0, '120 lines is SD');
    assert.equal(c.perOutputMinute, c.usd / c.outputMinutes);
    // Those figures cost no process of their own: the job started one ffprobe (the input's, before
    // the encode) and one ffmpeg (the encode); the output's length and height are read from the
    // WebM's header. (Asking the binary for its encoders is cached per binary, not per job.)
    assertOneProbeOneEncode(tools, clip);
    jobId = job.id;
  } finally {
    await f.stop();
  }
  // `status ID` with feederd stopped (the store, read-only): compared with the configured prices.
  const env = { NOMMER_HOME: f.home };
  const json = await nommer(['status', jobId, '--json'], { env, cwd: d.path });
  assert.equal(json.code, 0, json.stderr);
  const detail = JSON.parse(json.stdout) as {
    job: { cost: { usd: number; outputMinutes: number; perOutputMinute: number } };
    costComparison: {
      perOutputMinute: number;
      references: Array<{ name: string; perOutputMinute: number; usd: number; ratio: number; recorded: string }>;
    };
  };
  const cc = detail.costComparison;
  assert.equal(cc.perOutputMinute, detail.job.cost.perOutputMinute);
  assert.equal(cc.references.length, 1, 'the configured list replaces the defaults');
  const r = cc.references[0]!;
  assert.equal(r.name, 'Test Transcoder');
  assert.equal(r.recorded, '2027-01-02');
  assert.equal(r.perOutputMinute, 0.01, 'SD output at the SD price');
  assert.ok(Math.abs(r.usd - detail.job.cost.outputMinutes * 0.01) < 1e-12);
  assert.ok(Math.abs(r.ratio - detail.job.cost.usd / r.usd) < 1e-9);
  const text = await nommer(['status', jobId], { env, cwd: d.path });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /per min {3}\$\S+\/output min over \d\.\d\d min of output \(SD\)/);
  assert.match(
    text.stdout,
    /vs Test Transcoder {2}\$0\.0100\/min = \$\S+ {2}\(this job: [\d.]+% of it\) {2}\[test\.example\/pricing, 2027-01-02\]/,
  );
});

test('status ID compares with the built-in reference prices when config has none', async () => {
  // Its own dir: config is looked for from the working directory up.
  const own = tempDir('nommer-cost-refs-');
  after(() => own.cleanup());
  const home = join(own.path, 'home');
  mkdirSync(home);
  const store = openStore(join(home, 'nommer.db'));
  let id: string;
  try {
    const { job } = store.createJob(
      {
        input: 'file:///media/in.mp4',
        outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: 'file:///media/hd.webm' }],
        options: { pricing: { usdPerSlotHour: 3.6, basis: 'test' } },
      },
      T0,
    );
    id = job.id;
    store.applyStatusEvent(ev(id, 1, 1, 'started', T0), T0);
    store.applyStatusEvent(
      {
        ...ev(id, 1, 2, 'succeeded', T0 + 6000),
        result: { media: [{ uri: 'file:///media/hd.webm', seconds: 120, height: 1080 }] },
      },
      T0 + 6000,
    );
  } finally {
    store.close();
  }
  const r = await nommer(['status', id, '--json'], { env: { NOMMER_HOME: home }, cwd: home });
  assert.equal(r.code, 0, r.stderr);
  const cc = (
    JSON.parse(r.stdout) as {
      costComparison: {
        perOutputMinute: number;
        references: Array<{ name: string; perOutputMinute: number; ratio: number }>;
      };
    }
  ).costComparison;
  assert.equal(cc.perOutputMinute, 0.006 / 2, '$0.006 over 2 min');
  assert.deepEqual(
    cc.references.map((x) => [x.name, x.perOutputMinute]),
    [
      ['AWS Elemental MediaConvert (Basic tier)', 0.015],
      ['Coconut', 0.015],
      ['Google Cloud Transcoder API', 0.03],
    ],
    'HD prices for a 1080-line output',
  );
  assert.ok(Math.abs(cc.references[0]!.ratio - 0.2) < 1e-12, "$0.006 is a fifth of MediaConvert's 2 min x $0.015");
});
