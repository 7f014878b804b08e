// ffmpeg's capabilities (version, encoders, filters) are asked once per binary and kept on disk:
// the next run (a new process) reads them instead of starting ffmpeg three times; a replaced
// binary, or a kept file that is damaged, is asked again. A stand-in ffmpeg (a shell script that
// logs each call and answers in ffmpeg's formats) counts the calls.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempDir } from './helpers/media.js';

const root = tempDir('nommer-caps-');
after(() => root.cleanup());
const cache = join(root.path, 'cache');
const log = join(root.path, 'calls.log');
const ffmpeg = join(root.path, 'bin', 'ffmpeg');
const locate = pathToFileURL(join(import.meta.dirname, '..', 'src', 'ffmpeg', 'locate.js')).href;

function writeFakeFfmpeg(encoder: string): void {
  execFileSync('mkdir', ['-p', join(root.path, 'bin')]);
  writeFileSync(
    ffmpeg,
    `#!/bin/sh
echo "$2" >> "$CALLS_LOG"
case "$2" in
  -version) echo "ffmpeg version 9.9-fake Copyright (c) 2000 the FFmpeg developers" ;;
  -encoders) printf 'Encoders:\\n ------\\n V....D ${encoder}           stand-in\\n' ;;
  -filters) printf 'Filters:\\n ... ssim              VV->V      stand-in\\n' ;;
esac
`,
  );
  chmodSync(ffmpeg, 0o755);
}

/** ffmpegCapabilities in a process of its own (a new `nommer` run), as JSON. */
function capsInNewProcess(): { version: string; encoders: string[]; filters: string[] } {
  const script = `const { ffmpegCapabilities } = await import(${JSON.stringify(locate)});
const c = await ffmpegCapabilities(${JSON.stringify(ffmpeg)});
process.stdout.write(JSON.stringify({ version: c.version, encoders: [...c.encoders], filters: [...c.filters] }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, XDG_CACHE_HOME: cache, CALLS_LOG: log },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').length : 0);

test('asked once, then read from the cache by the next run; a replaced binary or a damaged file is asked again', () => {
  writeFakeFfmpeg('libvpx-vp9');
  const first = capsInNewProcess();
  assert.deepEqual(first, { version: '9.9-fake', encoders: ['libvpx-vp9'], filters: ['ssim'] });
  assert.equal(calls(), 3, 'version, encoders, filters');

  assert.deepEqual(capsInNewProcess(), first);
  assert.equal(calls(), 3, 'the next run starts no ffmpeg');

  // A new ffmpeg in the same place (an upgrade): asked again, and its own answer kept.
  writeFakeFfmpeg('libsvtav1-and-more');
  assert.deepEqual(capsInNewProcess().encoders, ['libsvtav1-and-more']);
  assert.equal(calls(), 6);
  assert.deepEqual(capsInNewProcess().encoders, ['libsvtav1-and-more']);
  assert.equal(calls(), 6);

  // A damaged file is not trusted.
  const dir = join(cache, 'nommer');
  for (const f of readdirSync(dir)) writeFileSync(join(dir, f), '{"key": "x", "encoders": 1');
  assert.deepEqual(capsInNewProcess().encoders, ['libsvtav1-and-more']);
  assert.equal(calls(), 9);
});
