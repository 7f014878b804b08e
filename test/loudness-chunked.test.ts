// Loudness in a chunked job, end to end on the local backend: `nommer submit --chunked
// --loudness -16` to a real feederd with two workers; the audio task measures the whole audio once
// and the joined output lands within ±0.5 LU of the target with its true peak under the ceiling
// (an independent ebur128 run); the job record carries the input's and the output's figures,
// and `nommer status` and the dashboard's job page (a real Chromium) show them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { PublicJob } from '../src/orchestrator/api.js';
import { tempDir } from './helpers/media.js';
import { startFeederd, type RunningFeederd } from './helpers/feederd.js';
import { ebur128, program, PROGRAMS } from './helpers/loudness.js';
import { nommer } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import { launchBrowser, openDashboard } from './helpers/browser.js';
import { loudnessText } from '../src/api/format.js';
import { FAST_VIDEO } from './helpers/srv-cheap.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

test('a chunked job measures its audio once and its joined output lands on -16 LUFS; status and the dashboard show input and output', async () => {
  const d = tempDir('nommer-loudness-chunked-');
  dirs.push(d);
  const f = await startFeederd(d.path, {
    workers: 2,
    config: { chunking: { enabled: true, thresholdSeconds: 4, chunkSeconds: 3 } },
  });
  running.push(f);
  const input = program(d.path, 'loud.mkv', PROGRAMS.loud(7), { seconds: 7 });
  const out = join(d.path, 'loud.webm');
  const env = { env: f.env, cwd: d.path, timeoutMs: 120_000 };
  const r = await nommer(
    ['submit', input, '-o', out, '--chunked', '--loudness', '-16', '--no-quality', '-s', FAST_VIDEO[0]!, '--json'],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  const job = (JSON.parse(r.stdout.trim().split('\n').pop()!) as { jobs: PublicJob[] }).jobs[0]!;
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  const tasks = (await f.client.getJob(job.id)).tasks.map((t) => t.id.split('.').pop()!);
  assert.ok(tasks.filter((t) => t.startsWith('chunk-')).length >= 2, `chunked: ${tasks.join(' ')}`);
  assert.equal(tasks.filter((t) => t === 'audio').length, 1, 'one audio task measures the whole audio');

  const m = ebur128(out);
  assert.ok(Math.abs(m.integrated - -16) <= 0.5, `${m.integrated} LUFS`);
  assert.ok(m.truePeak <= -1, `true peak ${m.truePeak}`);
  const l = job.outputs[0]!.loudness;
  assert.ok(l && !('skipped' in l), JSON.stringify(l));
  const src = ebur128(input);
  assert.ok(Math.abs(l.input.integrated - src.integrated) <= 0.15, `input ${l.input.integrated} vs ${src.integrated}`);
  assert.ok(Math.abs(l.output.integrated - m.integrated) <= 0.15, `output ${l.output.integrated} vs ${m.integrated}`);
  assert.ok(Math.abs(l.output.truePeak - m.truePeak) <= 0.15);
  assert.equal(l.linear, true);
  process.stdout.write(
    `chunked: input ${src.integrated} LUFS, ${src.truePeak} dBTP -> joined output ${m.integrated} LUFS, ${m.truePeak} dBTP (ebur128); gain ${l.gainDb} dB, linear\n`,
  );

  // status through the CLI's main() in this process (a `nommer` start costs about a second of
  // CPU); submit above went through the real binary.
  const inProcess = { env: f.env, cwd: d.path };
  const plain = await nommerInProcess(['status', job.id], inProcess);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(
    plain.stdout,
    new RegExp(
      `loudness ${l.output.integrated.toFixed(1)} LUFS \\(input ${l.input.integrated.toFixed(1)}\\) · true peak`,
    ),
  );
  const json = await nommerInProcess(['status', job.id, '--json'], inProcess);
  assert.deepEqual((JSON.parse(json.stdout) as { job: PublicJob }).job.outputs[0]!.loudness, l);

  // The dashboard's job page says it as status does (the same formatter, served as format.js).
  const browser = await launchBrowser();
  try {
    const d = await openDashboard(browser, f.client);
    await d.page.goto(`${f.client.endpoint.url}/#/jobs/${encodeURIComponent(job.id)}`);
    const shown = d.page.locator('article.detail .outputs .loudness');
    await shown.waitFor();
    assert.equal(await shown.textContent(), `loudness ${loudnessText(l)}`);
    assert.deepEqual(d.errors, []);
  } finally {
    await browser.close();
  }
});
