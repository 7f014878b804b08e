// `submit --dry-run` estimates follow the job's plan on the fleet: a chunked job's chunks (and
// its audio) run in waves on the slots, then the assembly alone; a package's renditions (the
// source's own ladder), audio and extras likewise, then the packaging. Wall seconds shrink with
// slots, worker-seconds do not. Real probes of tiny lavfi clips, the real CLI, a real feederd.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { planLadder } from '../src/abr/ladder.js';
import { localFileStorage } from '../src/backends.js';
import { makeChunkPlanner } from '../src/tasks/planner.js';
import { estimateJob, SPLIT_MODEL } from '../src/cost/estimate.js';
import { probeInput } from '../src/ffmpeg/probe.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { getPreset } from '../src/presets/registry.js';
import { nommer } from './helpers/cli.js';
import { countedTools } from './helpers/counted-tools.js';
import { startFeederd, type RunningFeederd } from './helpers/feederd.js';
import { makeClip, tempDir } from './helpers/media.js';

const d = tempDir('nommer-estimate-plan-');
let f: RunningFeederd | undefined;
after(async () => {
  await f?.stop().catch(() => undefined);
  d.cleanup();
});

interface Est {
  seconds: number;
  workerSeconds: number;
  usd: number | null;
  basis: string;
}

const CHUNKING = { enabled: true, thresholdSeconds: 5, chunkSeconds: 4 };

/** `nommer submit --dry-run --json` with no feederd, in a dir whose config says `config`. */
async function dryRun(name: string, config: object, args: string[]): Promise<Est> {
  const dir = join(d.path, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nommer.config.json'), JSON.stringify(config));
  const r = await nommer(['submit', ...args, '--dry-run', '--json'], {
    env: { NOMMER_HOME: join(dir, 'home') },
    cwd: dir,
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { jobs: Array<{ estimate: Est | null }> };
  assert.ok(out.jobs[0]?.estimate, r.stdout);
  return out.jobs[0]!.estimate!;
}

test('a chunked job: the chunk count feederd would plan, in waves on the slots; the slot-seconds do not shrink', async () => {
  const clip = makeClip(join(d.path, 'film.mp4'), { seconds: 12, width: 640, height: 360 });
  const price = { local: { costPerHour: 36 } };
  const on4 = await dryRun('c4', { ...price, chunking: CHUNKING, local: { workers: 4, costPerHour: 36 } }, [clip]);
  const on1 = await dryRun('c1', { ...price, chunking: CHUNKING, local: { workers: 1, costPerHour: 36 } }, [clip]);
  const whole = await dryRun('c0', { ...price, chunking: CHUNKING, local: { workers: 4, costPerHour: 36 } }, [
    clip,
    '--no-chunked',
  ]);
  // The count is the one feederd's planner makes from the clip's real frames on 4 slots.
  const planner = makeChunkPlanner({
    ffprobe: () => locateFfmpeg().ffprobe,
    chunking: CHUNKING,
    workers: () => 4,
    scratchBase: `${d.path}/scratch/`,
    storage: localFileStorage(),
  });
  const planned = await planner(clip, [{ preset: getPreset('webm'), uri: join(d.path, 'x.webm') }], undefined);
  assert.ok(planned.tasks && 'chunks' in planned.summary, 'the planner chunks it');
  const chunks = (planned.summary as { chunks: number }).chunks;
  assert.ok(chunks >= 2);
  assert.match(on4.basis, new RegExp(`; ${chunks} chunks on 4 slots with the audio beside them, then assembly`));
  assert.match(on1.basis, /chunks on 1 slot with the audio/);
  assert.match(whole.basis, /one task on one slot \(not chunked: chunking turned off for this job\)/);
  // Slot time: the work itself does not shrink with the fleet; only the start-ups of the extra
  // chunks a bigger fleet is given (to fill its waves) add to it. More than unchunked (start-ups, assembly).
  const chunks1 = Number(/; (\d+) chunks on 1 slot/.exec(on1.basis)![1]);
  assert.ok(chunks1 >= 2 && chunks1 <= chunks);
  assert.ok(
    Math.abs(on4.workerSeconds - on1.workerSeconds - (chunks - chunks1) * SPLIT_MODEL.taskStartSeconds) <= 0.1,
    `${on4.workerSeconds} vs ${on1.workerSeconds} (${chunks} vs ${chunks1} chunks)`,
  );
  assert.ok(on4.workerSeconds > whole.workerSeconds, `${on4.workerSeconds} > ${whole.workerSeconds}`);
  // Wall time: all serial on one slot; shorter than unchunked on four.
  assert.ok(Math.abs(on1.seconds - on1.workerSeconds) <= 0.1, `${on1.seconds} vs ${on1.workerSeconds}`);
  assert.ok(on4.seconds < whole.seconds, `${on4.seconds} < ${whole.seconds}`);
  assert.ok(on4.seconds < on4.workerSeconds / 2);
  assert.equal(on4.usd, Math.round(on4.workerSeconds * 0.01 * 1e6) / 1e6, '$36/h is $0.01 a slot-second');
});

test('followed from config, an input shorter than the threshold is told so from one plain probe: its frames are not listed', async () => {
  const clip = makeClip(join(d.path, 'short.mp4'), { seconds: 2, width: 160, height: 120 });
  const tools = countedTools();
  const planner = makeChunkPlanner({
    ffprobe: () => tools.env.NOMMER_FFPROBE,
    chunking: CHUNKING,
    workers: () => 4,
    scratchBase: `${d.path}/scratch/`,
    storage: localFileStorage(),
  });
  const outputs = [{ preset: getPreset('webm'), uri: join(d.path, 'short.webm') }];
  // The planner runs here, in the test's process: its ffprobe logs where this process's environment says.
  process.env.NOMMER_TEST_STARTS_LOG = tools.env.NOMMER_TEST_STARTS_LOG;
  after(() => {
    delete process.env.NOMMER_TEST_STARTS_LOG;
  });
  const planned = await planner(clip, outputs, undefined);
  assert.deepEqual(planned, { tasks: null, reason: 'shorter than chunking.thresholdSeconds (5 s)' });
  assert.deepEqual(
    tools.starts().map((x) => x.args.slice(-3)),
    [['-show_format', '-show_streams', `file:${clip}`]],
    'one probe of the input, no packet list',
  );
  // Asked for with --chunked, the same input is listed (and is too short to split).
  const forced = await planner(clip, outputs, true);
  assert.equal(forced.tasks, null);
  assert.ok(
    tools.starts().some((x) => x.args.includes('packet=pts_time,flags')),
    'its packets listed',
  );
});

test('waves: a chunk more than the slots costs a whole wave; the tail runs alone; history rescales the work, not the plan', () => {
  const media = { seconds: 64, height: 360 };
  const outputs = [{ preset: 'webm', family: 'vp9' }];
  const est = (chunks: number, slots: number, history: Parameters<typeof estimateJob>[0]['history'] = []) =>
    estimateJob({
      media,
      outputs,
      history,
      usdPerSlotHour: null,
      slots,
      plan: { kind: 'chunked', chunks, audio: false },
    });
  const tail = SPLIT_MODEL.tailStartSeconds + SPLIT_MODEL.tailPerMediaSecond * media.seconds;
  const eight = est(8, 8);
  const chunk = eight.seconds - tail;
  assert.ok(Math.abs(est(8, 4).seconds - (2 * chunk + tail)) < 0.2, 'two waves on four slots');
  assert.ok(
    Math.abs(est(9, 8).seconds - tail - 2 * (est(9, 9).seconds - tail)) < 0.2,
    'a ninth chunk on eight slots: a second wave',
  );
  assert.ok(Math.abs(est(8, 100).seconds - eight.seconds) < 0.05, 'slots beyond the chunks do not help');
  // Three past jobs at 2 slot-s per media s: the work is theirs, spread the same way.
  const history = [1, 2, 3].map(() => ({ preset: 'webm', height: 360, mediaSeconds: 10, workerSeconds: 20 }));
  const learned = est(8, 8, history);
  assert.equal(learned.workerSeconds, 128);
  assert.ok(Math.abs(learned.seconds / learned.workerSeconds - eight.seconds / eight.workerSeconds) < 0.01);
  assert.match(learned.basis, /median speed of 3 past jobs; 8 chunks on 8 slots, then assembly/);
});

test("a package: the source's ladder at each rung's size, parallel on the slots, then the packaging", async () => {
  const clip = makeClip(join(d.path, 'wide.mp4'), { seconds: 4, width: 640, height: 360 });
  const info = await probeInput(locateFfmpeg().ffprobe, clip);
  const ladder = planLadder(getPreset('abr'), info.video!);
  assert.ok(ladder.length >= 2, 'a 360p source gets more than one rung');
  const on4 = await dryRun('p4', { local: { workers: 4 } }, [clip, '-p', 'abr']);
  const on1 = await dryRun('p1', { local: { workers: 1 } }, [clip, '-p', 'abr']);
  const webm = await dryRun('p0', { local: { workers: 4 } }, [clip, '-p', 'webm']);
  const names = ladder.map((r) => `${Math.min(r.width, r.height)}p`).join(', ');
  assert.match(
    on4.basis,
    new RegExp(`package of ${ladder.length} rendition\\(s\\) \\(${names}\\) \\+ audio \\+ extras on 4 slots`),
  );
  assert.equal(on4.usd, 0, 'local.costPerHour defaults to 0');
  assert.equal(on4.workerSeconds, on1.workerSeconds);
  // Every rendition up to the source's own size, plus audio and extras: more work than one webm at that size.
  assert.ok(on4.workerSeconds > webm.workerSeconds, `${on4.workerSeconds} > ${webm.workerSeconds}`);
  assert.ok(Math.abs(on1.seconds - on1.workerSeconds) <= 0.1);
  assert.ok(on4.seconds < on1.seconds, `${on4.seconds} < ${on1.seconds}`);
});

test("a running feederd plans the dry run's estimate with its fleet and the job's own --chunked", async () => {
  mkdirSync(join(d.path, 'f'), { recursive: true });
  f = await startFeederd(join(d.path, 'f'), { workers: 0, config: { chunking: { ...CHUNKING, enabled: false } } });
  const clip = makeClip(join(d.path, 'f', 'talk.mp4'), { seconds: 8, width: 160, height: 120 });
  const ask = async (extra: object) => {
    const { estimate } = await f!.client.dryRun({ input: clip, outputs: [{ preset: 'webm' }], ...extra });
    assert.ok(estimate, 'a local clip has an estimate');
    return { estimate };
  };
  assert.match((await ask({})).estimate.basis, /one task on one slot \(not chunked: chunking is off in config\)/);
  const chunked = (await ask({ chunked: true })).estimate;
  assert.match(chunked.basis, /; 2 chunks on 1 slot/);
  // The CLI passes --chunked through to feederd's dry run.
  const r = await nommer(['submit', clip, '--chunked', '--dry-run', '--json'], {
    env: { NOMMER_HOME: f.home },
    cwd: join(d.path, 'f'),
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { jobs: Array<{ estimate: Est }> }).jobs[0]!.estimate, chunked);
});
