// HDR kept through a chunked job and a package (issue 26 item 1): a generated HDR10 source (HEVC
// 10-bit, its mastering display and content light in SEI, a keyframe every second so the job is
// cut into chunks) encoded chunked and packaged with the webm and av1 presets, each piece read back
// with ffprobe: every chunk 10-bit and tagged, the joined WebM with the MasteringMetadata and
// MaxCLL/MaxFALL (and, for AV1, the metadata OBUs after every seam); every rung's CMAF init segment
// with vpcC/av1C and 'colr' saying 10-bit BT.2020 PQ and the static metadata in SmDm/CoLL (VP9)
// or mdcv/clli (AV1); the DASH and HLS manifests signalling the range. HLG stays 10-bit HLG; an
// SDR package's manifests are as before.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FsStorage } from '../src/adapters/local/fs-storage.js';
import { colourProperties, withCodecs, withColourProperties, withVideoRange } from '../src/abr/hdr.js';
import { encodePackage } from '../src/abr/run-local.js';
import { hdrText } from '../src/api/format.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { hdrBoxes, initWithHdr } from '../src/ffmpeg/mp4-hdr.js';
import type { OutputHdr } from '../src/ffmpeg/types.js';
import { qualityOfResult } from '../src/jobs/outputs.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';
import type { ResolvedPreset } from '../src/presets/schema.js';
import { chunkList } from '../src/tasks/params.js';
import { packageLines } from '../src/tui/format.js';
import { chunkedRun } from './helpers/chunked.js';
import {
  EXPECTED_MASTERING,
  assertMastering,
  fast,
  firstFrameSideData,
  firstFramesSideData,
  hevcSource,
  run,
  videoStream,
} from './helpers/hdr.js';
import { FFMPEG, makeClip, tempDir } from './helpers/media.js';
import { launchPlayerBrowser, openPlayerPage, playInBrowser, servePackage } from './helpers/player.js';
import type { Browser } from 'playwright-core';

const dir = tempDir('nommer-hdr-pieces-');
after(() => dir.cleanup());
const ff = locateFfmpeg();

const HDR10_KEPT: OutputHdr = {
  source: 'pq',
  mode: 'kept',
  transfer: 'pq',
  bitDepth: 10,
  masteringDisplay: true,
  contentLight: true,
};
const PQ_TAGS = ['bt2020', 'smpte2084', 'bt2020nc', 'tv'];

let HDR10_SHORT: string;
let HDR10_LONG: string;
let HLG: string;
before(() => {
  // 2 s at 12 fps, a keyframe every second: two chunks of one second each, a seam between them,
  // for the chunked jobs and the chunked package alike (a third chunk would be one more encode and
  // probe per job for no case the second does not show; issue 24).
  const at12 = { size: '160x120', keyint: 12, fps: 12 };
  HDR10_SHORT = hevcSource(join(dir.path, 'hdr10-2s.mp4'), 'smpte2084', { seconds: 2, ...at12 });
  // Long enough for the player harness: 2 s played, a switch, 1 s more.
  HDR10_LONG = hevcSource(join(dir.path, 'hdr10-4s.mp4'), 'smpte2084', { seconds: 4, ...at12 });
  HLG = hevcSource(join(dir.path, 'hlg.mp4'), 'arib-std-b67', { seconds: 1, size: '160x120', fps: 12 });
});

function tags(s: { color_primaries?: string; color_transfer?: string; color_space?: string; color_range?: string }) {
  return [s.color_primaries, s.color_transfer, s.color_space, s.color_range];
}

// ---- chunked ---------------------------------------------------------------------------------

async function chunked(preset: ResolvedPreset, name: string) {
  const d = join(dir.path, name);
  const out = join(dir.path, `${name}.webm`);
  const wire = preset as unknown as Record<string, unknown> & { name: string };
  const r = await chunkedRun(HDR10_SHORT, out, wire, d, { chunkSeconds: 1, workers: 1 });
  for (const t of r.tasks.filter((x) => x.type !== 'assemble')) await r.run(t.key);
  const { manifest } = chunkList.parse(JSON.parse(r.tasks.at(-1)!.objects![0]!.text));
  // Every chunk, as its worker stored it: 10-bit, tagged BT.2020 PQ.
  for (const c of manifest) {
    const s = videoStream(c.uri);
    assert.equal(s.pix_fmt, 'yuv420p10le', `chunk ${c.index}`);
    assert.deepEqual(tags(s), PQ_TAGS, `chunk ${c.index}`);
  }
  const done = await r.run('assemble');
  await done.cleanup?.();
  return { out, chunks: manifest.length, quality: qualityOfResult(done.result)[0]?.quality };
}

describe('HDR10, chunked', () => {
  it('webm: every chunk VP9 10-bit PQ, the joined WebM with the mastering display and content light', async () => {
    const r = await chunked(fast('webm'), 'chunked-vp9');
    assert.equal(r.chunks, 2);
    const s = videoStream(r.out);
    assert.equal(s.profile, 'Profile 2');
    assert.equal(s.pix_fmt, 'yuv420p10le');
    assert.deepEqual(tags(s), PQ_TAGS);
    assertMastering(s.side_data_list ?? [], 1e-9, 'joined webm');
    assert.deepEqual(r.quality?.hdr, HDR10_KEPT);
    assert.equal(hdrText(r.quality!.hdr!), 'HDR10 kept (10-bit PQ, mastering display, content light)');
    run(FFMPEG, ['-v', 'error', '-xerror', '-i', r.out, '-f', 'null', '-']);
  });

  it('av1: 10-bit PQ, the metadata in the joined WebM and in the bitstream after every seam', async () => {
    const r = await chunked(fast('av1'), 'chunked-av1');
    const s = videoStream(r.out);
    assert.equal(s.pix_fmt, 'yuv420p10le');
    assert.deepEqual(tags(s), PQ_TAGS);
    assertMastering(s.side_data_list ?? [], 1e-9, 'joined av1 webm');
    // AV1's metadata OBUs: chromaticities in 1/65536, luminance in 1/256 and 1/16384 cd/m².
    const firsts = firstFramesSideData(r.out, [0, 1]);
    for (const [t, list] of firsts.entries()) assertMastering(list, 1 / 16384, `av1 frame at ${t} s`);
    assert.deepEqual(r.quality?.hdr, HDR10_KEPT);
  });
});

// ---- packages --------------------------------------------------------------------------------

/** A small package preset: two rungs under the 160x120 source, 1 s segments, no extras. */
function pkgPreset(base: 'abr' | 'abr-av1'): ResolvedPreset {
  const p = applyOverrides(getPreset(base), [
    'abr.segmentSeconds=1',
    'abr.thumbnailSeconds=0',
    'abr.poster=false',
    'quality.measure=false',
  ]);
  const speed = base === 'abr-av1' ? 12 : 8;
  return { ...p, video: { ...p.video!, speed, tuning: undefined }, abr: { ...p.abr!, rungs: [90, 120] } };
}

async function pkg(input: string, preset: ResolvedPreset, name: string, chunkSeconds?: number) {
  const out = join(dir.path, name);
  const r = await encodePackage({
    ffmpeg: ff,
    storage: new FsStorage(),
    input,
    preset,
    dir: out,
    force: true,
    ...(chunkSeconds ? { chunkSeconds } : {}),
  });
  const inits = readdirSync(out)
    .filter((f) => /^init-stream\d+\.m4s$/.test(f))
    .sort();
  return { dir: out, pkg: r.package, inits };
}

/** A rung's init segment followed by its first media segment: what a player reads first. */
function firstBytes(d: string, init: string): string {
  const i = /\d+/.exec(init)![0];
  const path = join(dir.path, `${d.split('/').pop()}-start-${i}.mp4`);
  writeFileSync(
    path,
    Buffer.concat([readFileSync(join(d, init)), readFileSync(join(d, `chunk-stream${i}-00001.m4s`))]),
  );
  return path;
}

/** Boxes of an init segment by four-character code, anywhere in it. */
function hasBox(d: string, init: string, type: string): boolean {
  return readFileSync(join(d, init)).includes(Buffer.from(type, 'latin1'));
}

function assertHdrManifests(d: string, range: 'PQ' | 'HLG', rungs: number, vp9: boolean): void {
  const master = readFileSync(join(d, 'master.m3u8'), 'utf8');
  const variants = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  assert.equal(variants.length, rungs, master);
  for (const v of variants) assert.match(v, new RegExp(`,VIDEO-RANGE=${range}$`), v);
  const mpd = readFileSync(join(d, 'manifest.mpd'), 'utf8');
  const video = /<AdaptationSet\b[^>]*contentType="video"[^>]*>([\s\S]*?)<\/AdaptationSet>/.exec(mpd)?.[1] ?? '';
  const tc = range === 'PQ' ? '16' : '18';
  assert.match(video, new RegExp(`Property schemeIdUri="urn:mpeg:mpegB:cicp:TransferCharacteristics" value="${tc}"`));
  assert.match(video, /<SupplementalProperty schemeIdUri="urn:mpeg:mpegB:cicp:ColourPrimaries" value="9"\/>/);
  assert.match(video, /<SupplementalProperty schemeIdUri="urn:mpeg:mpegB:cicp:MatrixCoefficients" value="9"\/>/);
  if (vp9) {
    // VP9's codecs string in full (profile 2, 10-bit, then 4:2:0, primaries, transfer, matrix, range).
    const full = new RegExp(`^vp09\\.02\\.\\d\\d\\.10\\.0[01]\\.09\\.${tc}\\.09\\.00$`);
    const codecs = [...mpd.matchAll(/codecs="(vp09[^"]*)"/g), ...master.matchAll(/CODECS="(vp09[^",]*)/g)];
    assert.equal(codecs.length, 2 * rungs, `${mpd}\n${master}`);
    for (const c of codecs) assert.match(c[1]!, full);
  }
  // Only on the video: the audio set says nothing of colour.
  assert.equal(mpd.match(/cicp:/g)?.length, colourProperties(range === 'PQ' ? 'pq' : 'hlg').length, mpd);
}

describe('HDR10, packaged', () => {
  it('abr (VP9), whole rungs: every init segment 10-bit BT.2020 PQ with SmDm/CoLL; DASH and HLS say PQ', async () => {
    const r = await pkg(HDR10_LONG, pkgPreset('abr'), 'pkg-vp9');
    assert.equal(r.inits.length, 2, 'a rung each (the source has no audio)');
    for (const init of r.inits) {
      // vpcC: profile 2, 10-bit, primaries 9, transfer 16, matrix 9 (ffmpeg writes it); 'colr' too.
      const bytes = readFileSync(join(r.dir, init));
      const vpcc = bytes.indexOf('vpcC');
      assert.ok(vpcc > 0, init);
      // version+flags (4), profile, level, bitDepth<<4|chroma<<1|full, primaries, transfer, matrix
      const rec = bytes.subarray(vpcc + 8, vpcc + 14);
      assert.deepEqual([rec[0], rec[2]! >> 4, rec[3], rec[4], rec[5]], [2, 10, 9, 16, 9], init);
      assert.ok(hasBox(r.dir, init, 'SmDm') && hasBox(r.dir, init, 'CoLL'), init);
      const s = videoStream(firstBytes(r.dir, init));
      assert.equal(s.pix_fmt, 'yuv420p10le', init);
      assert.deepEqual(tags(s), PQ_TAGS, init);
      // SmDm: chromaticities in 1/65536, luminance max in 1/256, min in 1/16384 cd/m².
      assertMastering(s.side_data_list ?? [], 1 / 16384, `${init} (SmDm/CoLL)`);
    }
    assertHdrManifests(r.dir, 'PQ', 2, true);
    assert.deepEqual(r.pkg.hdr, HDR10_KEPT);
    const lines = packageLines({ uri: r.dir, preset: 'abr', package: r.pkg });
    assert.ok(lines.includes('HDR    HDR10 kept (10-bit PQ, mastering display, content light)'), lines.join('\n'));
  });

  it('abr-av1, chunked rungs: every init segment 10-bit PQ with mdcv/clli, the OBUs after every seam', async () => {
    const r = await pkg(HDR10_SHORT, pkgPreset('abr-av1'), 'pkg-av1', 1);
    assert.equal(r.inits.length, 2);
    for (const init of r.inits) {
      assert.ok(hasBox(r.dir, init, 'av1C') && hasBox(r.dir, init, 'mdcv') && hasBox(r.dir, init, 'clli'), init);
      const start = firstBytes(r.dir, init);
      const s = videoStream(start);
      assert.equal(s.pix_fmt, 'yuv420p10le', init);
      assert.deepEqual(tags(s), PQ_TAGS, init);
      // mdcv: the source's own units (0.00002 and 0.0001 cd/m²): equal.
      assertMastering(s.side_data_list ?? [], 1e-9, `${init} (mdcv/clli)`);
      assertMastering(firstFrameSideData(start, 0), 1 / 16384, `${init} first frame`);
    }
    // The rung's second chunk (from 1 s) starts with its own metadata OBUs.
    const second = join(dir.path, 'pkg-av1-second.mp4');
    writeFileSync(
      second,
      Buffer.concat([
        readFileSync(join(r.dir, 'init-stream0.m4s')),
        readFileSync(join(r.dir, 'chunk-stream0-00002.m4s')),
      ]),
    );
    assertMastering(firstFrameSideData(second, 0), 1 / 16384, 'second segment');
    assertHdrManifests(r.dir, 'PQ', 2, false);
    assert.deepEqual(r.pkg.hdr, HDR10_KEPT);
  });
});

describe('an HDR10 package in a browser', () => {
  let browser: Browser | undefined;
  after(async () => browser?.close());

  it('the VP9 package plays in Chromium over DASH and HLS, with its full codecs string, and switches rungs', async () => {
    const served = await servePackage(join(dir.path, 'pkg-vp9'));
    try {
      browser = await launchPlayerBrowser();
      // One page, the two manifests in turn: a second page would start a second renderer process
      // (about 2 CPU-s), most of what a short play costs.
      const page = await openPlayerPage(browser);
      const plays = [];
      for (const manifest of ['manifest.mpd', 'master.m3u8'])
        plays.push({ manifest, rep: await playInBrowser({ url: `${served.url}${manifest}`, seconds: 2, page }) });
      for (const { manifest, rep } of plays) {
        const what = `${manifest}: ${JSON.stringify(rep)}`;
        assert.deepEqual(rep.errors, [], what);
        assert.ok(rep.loaded && rep.playedSeconds >= 2, what);
        assert.equal(rep.variants.length, 2, what);
        for (const v of rep.variants)
          assert.match(v.videoCodec ?? '', /^vp09\.02\.\d\d\.10\.00\.09\.16\.09\.00$/, what);
        assert.ok(rep.switchedTo && rep.activeAfterSwitch?.id === rep.switchedTo.id, what);
      }
    } finally {
      await served.close();
    }
  });
});

describe('HLG and SDR packages', () => {
  it('HLG -> abr: 10-bit HLG rungs, no static metadata, HLS VIDEO-RANGE=HLG, DASH transfer 18', async () => {
    const r = await pkg(HLG, pkgPreset('abr'), 'pkg-hlg');
    for (const init of r.inits) {
      const s = videoStream(firstBytes(r.dir, init));
      assert.equal(s.pix_fmt, 'yuv420p10le', init);
      assert.deepEqual(tags(s), ['bt2020', 'arib-std-b67', 'bt2020nc', 'tv'], init);
      assert.equal(s.side_data_list, undefined, init);
    }
    assertHdrManifests(r.dir, 'HLG', 2, true);
    assert.deepEqual(r.pkg.hdr, {
      ...HDR10_KEPT,
      source: 'hlg',
      transfer: 'hlg',
      masteringDisplay: false,
      contentLight: false,
    });
  });

  it('SDR -> abr: 8-bit, no VIDEO-RANGE, no colour descriptors, no hdr in the record', async () => {
    const sdr = makeClip(join(dir.path, 'sdr.mp4'), { seconds: 1, width: 160, height: 120, fps: 12, audioChannels: 0 });
    const r = await pkg(sdr, pkgPreset('abr'), 'pkg-sdr');
    for (const init of r.inits) {
      assert.equal(videoStream(firstBytes(r.dir, init)).pix_fmt, 'yuv420p', init);
      assert.ok(!hasBox(r.dir, init, 'SmDm') && !hasBox(r.dir, init, 'CoLL'), init);
    }
    assert.doesNotMatch(readFileSync(join(r.dir, 'master.m3u8'), 'utf8'), /VIDEO-RANGE/);
    assert.doesNotMatch(readFileSync(join(r.dir, 'manifest.mpd'), 'utf8'), /cicp|vp09\.\d\d\.\d\d\.\d\d\./);
    assert.equal(r.pkg.hdr, undefined);
  });
});

describe('the writers, on their own', () => {
  it('an init segment rewritten twice holds one copy of the boxes, and nothing else changes', () => {
    const init = readFileSync(join(dir.path, 'pkg-vp9', 'init-stream0.m4s'));
    const hdr = { masteringDisplay: EXPECTED_MASTERING, contentLight: { maxCll: 1000, maxFall: 400 } };
    const again = initWithHdr(init, hdr);
    assert.equal(again.entries, 1);
    assert.ok(again.bytes.equals(init), 'the boxes replaced in place, not doubled');
    const boxes = Buffer.concat(hdrBoxes('vp09', hdr));
    assert.equal(boxes.length, 8 + 4 + 24 + 8 + 4 + 4);
  });

  it('VIDEO-RANGE goes on stream variants only, once; the MPD needs a video set', () => {
    const master = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="vp09.02.10.10"\nmedia_0.m3u8\n';
    const once = withVideoRange(master, 'pq');
    assert.equal(withVideoRange(once, 'pq'), once);
    assert.match(once, /CODECS="vp09.02.10.10",VIDEO-RANGE=PQ\n/);
    assert.throws(() => withColourProperties('<MPD><Period></Period></MPD>', 'pq'), /no video AdaptationSet/);
    const full = new Map([['vp09.02.10.10', 'vp09.02.10.10.00.09.16.09.00']]);
    assert.equal(
      withCodecs('CODECS="vp09.02.10.10,opus" codecs="vp09.02.10.10" codecs="vp09.02.11.10"', full),
      'CODECS="vp09.02.10.10.00.09.16.09.00,opus" codecs="vp09.02.10.10.00.09.16.09.00" codecs="vp09.02.11.10"',
    );
  });
});
