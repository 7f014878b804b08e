// HDR kept (issue 26 item 1): generated HDR10 and HLG sources (HEVC 10-bit from libx265, its
// mastering display and content light in SEI, as cameras and graders write them) encoded with
// the webm and av1 presets, then read back with ffprobe: 10 bits, the source's primaries,
// transfer, matrix and range, and its mastering display and content light in the WebM's Colour
// (and in the AV1 bitstream). SDR stays 8-bit and untouched; tonemap gives 8-bit BT.709.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localFileStorage } from '../src/backends.js';
import { encode } from '../src/encode.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { hdrOf, hdrWarning, outputHdr } from '../src/ffmpeg/hdr.js';
import { countVideoPackets, probeInput } from '../src/ffmpeg/probe.js';
import type { MasteringDisplay, OutputHdr, VideoStreamInfo } from '../src/ffmpeg/types.js';
import { writeWebmHdr } from '../src/ffmpeg/webm-hdr.js';
import type { ResolvedPreset } from '../src/presets/schema.js';
import {
  EXPECTED_MASTERING,
  assertMastering,
  fast,
  firstFrameSideData,
  hevcSource,
  run,
  videoStream,
} from './helpers/hdr.js';
import { FFMPEG, FFPROBE, makeClip, tempDir } from './helpers/media.js';

const dir = tempDir('nommer-hdr-');
after(() => dir.cleanup());
const ff = locateFfmpeg();

async function encodeOne(input: string, preset: ResolvedPreset, name: string) {
  const path = join(dir.path, name);
  const r = await encode({ ffmpeg: ff, storage: localFileStorage(), input, outputs: [{ preset, path }], force: true });
  return { path, hdr: r.outputs[0]!.quality?.hdr as OutputHdr | undefined };
}

let HDR10: string;
let HLG: string;
before(() => {
  // 1 s at 24 fps, 160x90: the picture format is what is tested, not the picture.
  HDR10 = hevcSource(join(dir.path, 'hdr10.mp4'), 'smpte2084', { size: '160x90' });
  HLG = hevcSource(join(dir.path, 'hlg.mp4'), 'arib-std-b67', { size: '160x90' });
});

describe('HDR sources', () => {
  it('the probe finds PQ with the mastering display and content light of the first frame, and HLG', async () => {
    const pq = await probeInput(ff.ffprobe, HDR10);
    assert.equal(pq.video?.hdr?.transfer, 'pq');
    assert.deepEqual(pq.video?.hdr?.contentLight, { maxCll: 1000, maxFall: 400 });
    assert.deepEqual(pq.video?.hdr?.masteringDisplay, EXPECTED_MASTERING);
    assert.deepEqual(pq.video?.hdr?.notCarried, []);
    const hlg = await probeInput(ff.ffprobe, HLG);
    assert.deepEqual(hlg.video?.hdr, { transfer: 'hlg', notCarried: [] });
    const sdr = await probeInput(ff.ffprobe, makeClip(join(dir.path, 'sdr.mp4'), { seconds: 0.5 }));
    assert.equal(sdr.video?.hdr, undefined);
  });

  it('Dolby Vision and HDR10+ are found and named as not carried, in the record and the warning', () => {
    const video = { colorTransfer: 'smpte2084' } as VideoStreamInfo;
    const frames = JSON.stringify({
      frames: [{ side_data_list: [{ side_data_type: 'HDR Dynamic Metadata SMPTE2094-40 (HDR10+)' }] }],
    });
    const hdr = hdrOf(video, [{ side_data_type: 'DOVI configuration record', dv_profile: 8 }], frames);
    assert.deepEqual(hdr, { transfer: 'pq', notCarried: ['Dolby Vision', 'HDR10+'] });
    const kept = outputHdr(hdr!, 'kept');
    assert.deepEqual(kept.notCarried, ['Dolby Vision', 'HDR10+']);
    assert.match(hdrWarning(kept)!, /Dolby Vision and HDR10\+ dynamic metadata is not carried/);
    assert.equal(hdrOf({ colorTransfer: 'bt709' } as VideoStreamInfo, [], frames), undefined);
  });

  it('HDR10 -> webm: VP9 profile 2, 10-bit, PQ, BT.2020, and the mastering display and content light in the WebM', async () => {
    const out = await encodeOne(HDR10, fast('webm'), 'hdr10.webm');
    const s = videoStream(out.path);
    assert.equal(s.profile, 'Profile 2');
    assert.equal(s.pix_fmt, 'yuv420p10le');
    assert.deepEqual(
      [s.color_primaries, s.color_transfer, s.color_space, s.color_range],
      ['bt2020', 'smpte2084', 'bt2020nc', 'tv'],
    );
    // Written as doubles: equal to the source's to float precision.
    assertMastering(s.side_data_list ?? [], 1e-9, 'webm stream');
    assert.deepEqual(out.hdr, {
      source: 'pq',
      mode: 'kept',
      transfer: 'pq',
      bitDepth: 10,
      masteringDisplay: true,
      contentLight: true,
    });
    run(FFMPEG, ['-v', 'error', '-xerror', '-i', out.path, '-f', 'null', '-']);
    // Read back as an input: the WebM's stream side data (not its frames) holds the metadata, and
    // the frame count is read past it.
    const again = await probeInput(ff.ffprobe, out.path);
    assert.deepEqual(again.video?.hdr?.masteringDisplay, EXPECTED_MASTERING);
    assert.deepEqual(again.video?.hdr?.contentLight, { maxCll: 1000, maxFall: 400 });
    assert.equal(await countVideoPackets(ff.ffprobe, out.path), 24);
  });

  it('HDR10 -> av1: 10-bit, PQ, BT.2020, the metadata in the AV1 bitstream and in the WebM', async () => {
    const out = await encodeOne(HDR10, fast('av1'), 'hdr10-av1.webm');
    const s = videoStream(out.path);
    assert.equal(s.pix_fmt, 'yuv420p10le');
    assert.deepEqual(
      [s.color_primaries, s.color_transfer, s.color_space, s.color_range],
      ['bt2020', 'smpte2084', 'bt2020nc', 'tv'],
    );
    assertMastering(s.side_data_list ?? [], 1e-9, 'av1 stream');
    // AV1's metadata OBU: chromaticities in 1/65536, luminance in 1/256 and 1/16384 cd/m².
    assertMastering(firstFrameSideData(out.path), 1 / 16384, 'av1 frame');
    assert.equal(out.hdr?.mode, 'kept');
    assert.equal(out.hdr?.bitDepth, 10);
  });

  it('HLG -> webm: 10-bit HLG', async () => {
    const out = await encodeOne(HLG, fast('webm'), 'hlg.webm');
    const s = videoStream(out.path);
    assert.equal(s.pix_fmt, 'yuv420p10le');
    assert.deepEqual([s.color_primaries, s.color_transfer], ['bt2020', 'arib-std-b67']);
    assert.deepEqual(out.hdr, {
      source: 'hlg',
      mode: 'kept',
      transfer: 'hlg',
      bitDepth: 10,
      masteringDisplay: false,
      contentLight: false,
    });
  });

  it('video.hdr=tonemap: 8-bit BT.709 SDR, tagged so', async () => {
    const out = await encodeOne(HDR10, fast('webm', { hdr: 'tonemap' }), 'tonemapped.webm');
    const s = videoStream(out.path);
    assert.equal(s.profile, 'Profile 0');
    assert.equal(s.pix_fmt, 'yuv420p');
    assert.deepEqual(
      [s.color_primaries, s.color_transfer, s.color_space, s.color_range],
      ['bt709', 'bt709', 'bt709', 'tv'],
    );
    assert.equal(s.side_data_list, undefined);
    assert.equal(out.hdr?.mode, 'tonemapped');
    assert.equal(out.hdr?.transfer, 'bt709');
  });

  it('an SDR source stays 8-bit, untagged HDR, with no hdr in its record', async () => {
    const out = await encodeOne(makeClip(join(dir.path, 'sdr2.mp4'), { seconds: 0.5 }), fast('webm'), 'sdr.webm');
    const s = videoStream(out.path);
    assert.equal(s.pix_fmt, 'yuv420p');
    assert.equal(s.side_data_list, undefined);
    assert.equal(out.hdr, undefined);
  });
});

// ---- the WebM rewrite, checked by an independent walk of the file -----------------------------

/** Top-level elements of the Segment: [id, offset from the Segment's data] (a minimal EBML walk). */
function topLevel(buf: Buffer): { dataStart: number; elements: Array<[number, number]>; cues: number[] } {
  const vint = (at: number, keepMarker: boolean): [number, number] => {
    const len = Math.clz32(buf[at]!) - 23;
    let v = keepMarker ? buf[at]! : buf[at]! & (0xff >> len);
    for (let i = 1; i < len; i++) v = v * 256 + buf[at + i]!;
    return [v, len];
  };
  const [, idLen] = vint(0, true);
  const [ebmlSize, ebmlSizeLen] = vint(idLen, false);
  const seg = idLen + ebmlSizeLen + ebmlSize;
  const dataStart = seg + 4 + vint(seg + 4, false)[1];
  const elements: Array<[number, number]> = [];
  const cues: number[] = [];
  for (let at = dataStart; at < buf.length; ) {
    const [id, il] = vint(at, true);
    const [size, sl] = vint(at + il, false);
    elements.push([id, at - dataStart]);
    if (id === 0x1c53bb6b) {
      // CueClusterPosition (0xF1) under CuePoint/CueTrackPositions: scan the Cues' bytes.
      for (let p = at + il + sl; p < at + il + sl + size; p++)
        if (buf[p] === 0xf1 && buf[p + 1]! >= 0x81 && buf[p + 1]! <= 0x88) {
          const n = buf[p + 1]! & 0x0f;
          cues.push(buf.readUIntBE(p + 2, n));
          p += 1 + n;
        }
    }
    at += il + sl + size;
  }
  return { dataStart, elements, cues };
}

describe('writing the WebM Colour', () => {
  it('keeps every cluster byte for byte and moves the Cues, SeekHead and Segment size with them', async () => {
    const path = join(dir.path, 'long.webm');
    // Written by ffmpeg alone (no metadata; a keyframe, hence a cluster, every second), then by
    // the module. 12 fps: a cluster is still a second.
    run(FFMPEG, [
      ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=12:duration=8'],
      ...['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k', '-g', '12'],
      ...['-pix_fmt', 'yuv420p10le', '-color_trc', 'smpte2084', '-f', 'webm', path],
    ]);
    const before = readFileSync(path);
    const hdr = {
      masteringDisplay: EXPECTED_MASTERING as MasteringDisplay,
      contentLight: { maxCll: 1000, maxFall: 400 },
    };
    await writeWebmHdr(path, hdr);
    const after = readFileSync(path);
    const a = topLevel(before);
    const b = topLevel(after);
    const clusters = (t: typeof a) => t.elements.filter(([id]) => id === 0x1f43b675).map(([, at]) => at);
    assert.ok(clusters(a).length >= 3, `${clusters(a).length} clusters`);
    assert.ok(a.cues.length >= 3, `cues ${a.cues}`);
    // Every cue names a cluster, before and after.
    assert.deepEqual(a.cues, clusters(a).slice(0, a.cues.length));
    assert.deepEqual(b.cues, clusters(b).slice(0, b.cues.length));
    const shift = clusters(b)[0]! - clusters(a)[0]!;
    assert.ok(shift > 80, `the Tracks grew by ${shift}`);
    // The clusters are the same bytes, shifted.
    const first = (t: typeof a, buf: Buffer) => buf.subarray(t.dataStart + clusters(t)[0]!);
    const cuesAt = (t: typeof a) => t.elements.find(([id]) => id === 0x1c53bb6b)![1];
    assert.ok(
      first(a, before)
        .subarray(0, cuesAt(a) - clusters(a)[0]!)
        .equals(first(b, after).subarray(0, cuesAt(b) - clusters(b)[0]!)),
    );
    assertMastering(videoStream(path).side_data_list ?? [], 1e-9, 'rewritten');
    // ffmpeg reads it whole, and seeks by the Cues to the right time.
    run(FFMPEG, ['-v', 'error', '-xerror', '-i', path, '-f', 'null', '-']);
    const pts = run(FFPROBE, [
      ...['-v', 'error', '-select_streams', 'v:0', '-read_intervals', '7%+#1'],
      ...['-show_entries', 'packet=pts_time', '-of', 'csv=p=0', path],
    ]);
    assert.ok(Math.abs(Number(pts.trim().split('\n')[0]) - 7) < 1.01, `seek to 7 s landed at ${pts}`);
    // Written twice, the metadata is replaced, not doubled.
    await writeWebmHdr(path, hdr);
    assert.equal(readFileSync(path).length, after.length);
  });
});
