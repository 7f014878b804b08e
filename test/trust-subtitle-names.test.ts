// Issue 23 item 10: a subtitle stream whose language tag is hundreds of characters long (any
// number of subtags is well-formed) no longer makes a file name too long for the file system and
// fails the whole package: `nommer encode -p abr` writes the package, the subtitle file's name
// holds the tag's leading subtags (at most 35 characters), and the manifests list the track
// with its whole language.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FFMPEG, makeClip, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { FAST_ABR, writeAbrConfig } from './helpers/abr.js';

const tmp = tempDir('nommer-trust-subnames-');
after(() => tmp.cleanup());

test('encode -p abr of a subtitle track with a 362-character language tag makes the package', async () => {
  const d = tmp.path;
  writeAbrConfig(d);
  const clip = makeClip(join(d, 'clip.mp4'), { seconds: 2, width: 160, height: 120 });
  writeFileSync(join(d, 's.srt'), '1\n00:00:00,000 --> 00:00:01,000\nhello\n\n');
  const tag = `en-${Array.from({ length: 40 }, (_, i) => `x${String(i).padStart(7, '0')}`).join('-')}`;
  assert.equal(tag.length, 362);
  const subs = join(d, 'subs.mkv');
  const mux = spawnSync(
    FFMPEG,
    [
      '-v',
      'error',
      '-y',
      '-i',
      clip,
      '-i',
      join(d, 's.srt'),
      '-map',
      '0',
      '-map',
      '1',
      '-c',
      'copy',
      '-c:s',
      'srt',
    ].concat(['-metadata:s:s:0', `language=${tag}`, subs]),
    { encoding: 'utf8' },
  );
  assert.equal(mux.status, 0, mux.stderr);
  const pk = join(d, 'pk');
  const r = await nommer(['encode', subs, '-p', 'abr-small', '-o', pk, ...FAST_ABR.flatMap((s) => ['-s', s])], {
    cwd: d,
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const files = readdirSync(pk);
  const vtt = files.filter((f) => f.endsWith('.vtt') && f.startsWith('subtitles-'));
  assert.deepEqual(vtt, ['subtitles-0-en-x0000000-x0000001-x0000002.vtt'], files.join(' '));
  assert.match(readFileSync(join(pk, vtt[0]!), 'utf8'), /hello/);
  const mpd = readFileSync(join(pk, 'manifest.mpd'), 'utf8');
  assert.ok(mpd.includes(`<BaseURL>${vtt[0]}</BaseURL>`), 'the MPD lists the track');
  assert.ok(mpd.includes(`lang="${tag}"`), "the MPD keeps the track's language");
  assert.ok(readFileSync(join(pk, 'master.m3u8'), 'utf8').includes('subtitles-0-en-x0000000-x0000001-x0000002.m3u8'));
});
