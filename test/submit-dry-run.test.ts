// `submit --dry-run` shows what will run: presets are resolved by feederd (orchestrator/submit-job.ts), so a
// running feederd is asked, and its config wins over the CLI's own.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeClip, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { startFeederd, type RunningFeederd } from './helpers/feederd.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.stop().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

const mine = (crf: number) => ({ presets: { mine: { extends: 'webm', description: 'test', video: { crf } } } });

test("submit --dry-run prints the commands the running feederd will run, resolved with its config, not the CLI's", async () => {
  const d = tempDir('nommer-dry-');
  dirs.push(d);
  const f = await startFeederd(d.path, { workers: 0, config: mine(41) });
  running.push(f);
  const clip = makeClip(join(d.path, 'c.mp4'), { seconds: 1, width: 160, height: 120 });
  // The CLI runs elsewhere, with a config of its own that says something else.
  const cli = join(d.path, 'cli');
  mkdirSync(cli);
  writeFileSync(join(cli, 'nommer.config.json'), JSON.stringify(mine(17)));
  const r = await nommer(['submit', clip, '-p', 'mine', '--dry-run', '--json'], {
    env: { NOMMER_HOME: f.home },
    cwd: cli,
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const argv = (JSON.parse(r.stdout) as { commands: string[][] }).commands.flat();
  assert.equal(argv[argv.indexOf('-crf') + 1], '41', "feederd's crf");
  const list = await f.client.listJobs();
  assert.equal(list.jobs.length, 0, 'a dry run creates no job');
  // With no feederd running, the CLI resolves with the config it would start one with.
  await f.stop();
  const alone = await nommer(['submit', clip, '-p', 'mine', '--dry-run', '--json'], {
    env: { NOMMER_HOME: join(d.path, 'none') },
    cwd: cli,
    timeoutMs: 30_000,
  });
  assert.equal(alone.code, 0, alone.stderr);
  const argv2 = (JSON.parse(alone.stdout) as { commands: string[][] }).commands.flat();
  assert.equal(argv2[argv2.indexOf('-crf') + 1], '17');
});
