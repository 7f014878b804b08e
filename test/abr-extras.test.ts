// The adaptive package's extras (src/abr/extras.ts): subtitles probed and converted to WebVTT with
// the real ffmpeg from generated clips, listed in a real dash-muxer package's manifest.mpd and
// master.m3u8 (checked by a small XML well-formedness parser and an m3u8 reader of this file),
// and the poster and seek thumbnails checked against the images' real sizes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  addSubtitlesToDash,
  addSubtitlesToHls,
  bcp47Language,
  escapeVttCueText,
  extractSubtitles,
  formatVttTime,
  makeThumbnails,
  posterSize,
  probeSubtitles,
  sizeForWidth,
  subtitleKind,
  subtitleLabel,
  thumbnailCount,
  thumbnailCues,
  thumbnailsVtt,
  toSubtitleStreams,
  whySkipped,
  type SubtitleStreamInfo,
  type SubtitleTrack,
} from '../src/abr/extras.js';
import { NommerError } from '../src/errors.js';
import type { FfmpegInstall } from '../src/ffmpeg/locate.js';
import { probeInput } from '../src/ffmpeg/probe.js';
import { FFMPEG, FFPROBE, makeClip, probe, tempDir } from './helpers/media.js';
// The WebP pictures' sizes come from their headers (the poster's codec is still ffprobe's word).
import { webpSize } from './helpers/webp.js';

const INSTALL: FfmpegInstall = { ffmpeg: FFMPEG, ffprobe: FFPROBE, source: 'path' };
const tmp = tempDir('nommer-abr-extras-');
after(() => tmp.cleanup());

function ffmpeg(args: string[]): void {
  const r = spawnSync(FFMPEG, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `ffmpeg ${args.join(' ')}\n${r.stderr}`);
}

function subdir(name: string): string {
  const d = join(tmp.path, name);
  mkdirSync(d, { recursive: true });
  return d;
}

// ---------------------------------------------------------------------------------------------
// A small XML reader for the test: throws on anything not well-formed, gives the element tree.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
function unescapeXml(s: string, where: string): string {
  if (/[<]/.test(s) || /&/.test(s.replace(ENTITY, ''))) throw new Error(`bad character data in ${where}: ${s}`);
  return s.replace(ENTITY, (e) =>
    e === '&amp;'
      ? '&'
      : e === '&lt;'
        ? '<'
        : e === '&gt;'
          ? '>'
          : e === '&quot;'
            ? '"'
            : e === '&apos;'
              ? "'"
              : String.fromCodePoint(Number(e.startsWith('&#x') ? `0x${e.slice(3, -1)}` : e.slice(2, -1))),
  );
}

function parseXml(xml: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const NAME = /[A-Za-z_][\w.:-]*/y;
  while (i < xml.length) {
    if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i);
      if (end < 0) throw new Error('unclosed processing instruction');
      i = end + 2;
    } else if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i);
      if (end < 0) throw new Error('unclosed comment');
      i = end + 3;
    } else if (xml.startsWith('</', i)) {
      NAME.lastIndex = i + 2;
      const m = NAME.exec(xml);
      if (!m) throw new Error(`bad closing tag at ${i}`);
      const close = /\s*>/y;
      close.lastIndex = i + 2 + m[0].length;
      if (!close.exec(xml)) throw new Error(`bad closing tag ${m[0]}`);
      const open = stack.pop();
      if (!open || open.name !== m[0]) throw new Error(`</${m[0]}> closes <${open?.name}>`);
      i = close.lastIndex;
    } else if (xml[i] === '<') {
      NAME.lastIndex = i + 1;
      const m = NAME.exec(xml);
      if (!m) throw new Error(`bad tag at ${i}`);
      const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
      let j = i + 1 + m[0].length;
      const ATTR = /\s+([A-Za-z_][\w.:-]*)\s*=\s*"([^"]*)"/y;
      for (;;) {
        ATTR.lastIndex = j;
        const a = ATTR.exec(xml);
        if (!a) break;
        if (a[1]! in el.attrs) throw new Error(`attribute ${a[1]} twice on <${el.name}>`);
        el.attrs[a[1]!] = unescapeXml(a[2]!, `${el.name}@${a[1]}`);
        j = ATTR.lastIndex;
      }
      const end = /\s*(\/?)>/y;
      end.lastIndex = j;
      const e = end.exec(xml);
      if (!e) throw new Error(`bad start tag <${el.name} at ${xml.slice(j, j + 40)}`);
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) throw new Error('more than one root element');
      else root = el;
      if (!e[1]) stack.push(el);
      i = end.lastIndex;
    } else {
      const next = xml.indexOf('<', i);
      const text = xml.slice(i, next < 0 ? xml.length : next);
      const parent = stack[stack.length - 1];
      if (parent) parent.text += unescapeXml(text, `<${parent.name}> text`);
      else if (text.trim()) throw new Error(`text outside the root: ${text.trim().slice(0, 40)}`);
      i = next < 0 ? xml.length : next;
    }
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1]!.name}> is not closed`);
  if (!root) throw new Error('no root element');
  return root;
}

function kids(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

// ---------------------------------------------------------------------------------------------
// An m3u8 reader for the test: tags with their attribute lists, and URI lines.

function parseAttrs(list: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Z0-9-]+)=("[^"\r\n]*"|[^,"\r\n]*)(,|$)/y;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < list.length && (m = re.exec(list))) {
    assert.ok(!(m[1]! in out), `attribute ${m[1]} twice in ${list}`);
    out[m[1]!] = m[2]!.startsWith('"') ? m[2]!.slice(1, -1) : m[2]!;
    at = re.lastIndex;
  }
  assert.equal(at, list.length, `attribute list does not parse: ${list}`);
  return out;
}

function checkMediaPlaylist(text: string): { target: number; segments: Array<{ duration: number; uri: string }> } {
  const lines = text.split('\n').filter((l) => l !== '');
  assert.equal(lines[0], '#EXTM3U');
  const target = Number(/^#EXT-X-TARGETDURATION:(\d+)$/m.exec(text)?.[1]);
  assert.ok(target >= 1, 'TARGETDURATION');
  assert.match(text, /^#EXT-X-VERSION:\d+$/m);
  assert.match(text, /^#EXT-X-PLAYLIST-TYPE:VOD$/m);
  assert.equal(lines[lines.length - 1], '#EXT-X-ENDLIST');
  const segments: Array<{ duration: number; uri: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^#EXTINF:([\d.]+),/.exec(lines[i]!);
    if (!m) continue;
    const uri = lines[i + 1]!;
    assert.ok(!uri.startsWith('#'), 'EXTINF is followed by its URI');
    assert.ok(Math.round(Number(m[1])) <= target, 'EXTINF rounded is within TARGETDURATION');
    segments.push({ duration: Number(m[1]), uri });
  }
  return { target, segments };
}

// ---------------------------------------------------------------------------------------------

describe('subtitles: classifying and naming', () => {
  it('text codecs convert, bitmap ones are skipped with why, others too', () => {
    for (const c of ['mov_text', 'subrip', 'ass', 'ssa', 'webvtt']) assert.equal(subtitleKind(c), 'text', c);
    for (const c of ['dvd_subtitle', 'hdmv_pgs_subtitle', 'dvb_subtitle']) {
      assert.equal(subtitleKind(c), 'bitmap', c);
      assert.match(whySkipped({ codec: c, kind: 'bitmap' })!, /pictures, not text/);
    }
    assert.equal(subtitleKind('bin_data'), 'other');
    assert.match(whySkipped({ codec: 'bin_data', kind: 'other' })!, /not a text subtitle codec/);
    assert.equal(whySkipped({ codec: 'subrip', kind: 'text' }), undefined);
  });

  it('ISO 639-2 languages become BCP-47 where the mapping is obvious; missing or junk is und', () => {
    assert.equal(bcp47Language('eng'), 'en');
    assert.equal(bcp47Language('fre'), 'fr');
    assert.equal(bcp47Language('ger'), 'de');
    assert.equal(bcp47Language('deu'), 'de');
    assert.equal(bcp47Language('pt-BR'), 'pt-BR');
    assert.equal(bcp47Language('en'), 'en');
    assert.equal(bcp47Language(undefined), 'und');
    assert.equal(bcp47Language(''), 'und');
    assert.equal(bcp47Language('und'), 'und');
    assert.equal(bcp47Language('e"n'), 'und');
    assert.equal(bcp47Language('en\n#EXT'), 'und');
    // An unmapped but well-formed code is kept.
    assert.match(bcp47Language('tlh'), /^tlh$/);
  });

  it('labels are the title, else the language name; no quotes or control characters', () => {
    assert.equal(subtitleLabel('Director "commentary"\n#EXT-X', 'en'), "Director 'commentary' #EXT-X");
    assert.equal(subtitleLabel(undefined, 'en'), 'English');
    assert.equal(subtitleLabel('  ', 'fr'), 'French');
    assert.equal(subtitleLabel(undefined, 'und'), 'Unknown language');
    const s = toSubtitleStreams({
      streams: [
        { index: 2, codec_type: 'subtitle', codec_name: 'subrip', tags: { language: 'spa', title: 'Forced' } },
        { index: 3, codec_type: 'subtitle', codec_name: 'hdmv_pgs_subtitle', disposition: { default: 1 } },
        { index: 4, codec_type: 'subtitle', codec_name: 'ass', tags: { LANGUAGE: 'ita' } },
      ],
    });
    assert.deepEqual(
      s.map((x) => [x.index, x.kind, x.language, x.label, x.default]),
      [
        [2, 'text', 'es', 'Forced', false],
        [3, 'bitmap', 'und', 'Unknown language', true],
        [4, 'text', 'it', 'Italian', false],
      ],
    );
  });

  it('cue text: a bare < or & is escaped, WebVTT markup is kept, headers and timings untouched', () => {
    const vtt =
      'WEBVTT\n\n00:00.500 --> 00:01.500\n1 < 2 & <b>bold</b> &amp; <i>x</i>\nx --> y\n\n00:02.000 --> 00:03.000\n<3\n';
    assert.equal(
      escapeVttCueText(vtt),
      'WEBVTT\n\n00:00.500 --> 00:01.500\n1 &lt; 2 &amp; <b>bold</b> &amp; <i>x</i>\nx --&gt; y\n\n00:02.000 --> 00:03.000\n&lt;3\n',
    );
  });
});

describe('subtitles: real files', () => {
  const d = subdir('subs');
  const srt = (cues: Array<[string, string, string]>) =>
    cues.map(([a, b, t], i) => `${i + 1}\n${a} --> ${b}\n${t}\n`).join('\n');
  writeFileSync(
    join(d, 'en.srt'),
    srt([
      ['00:00:00,500', '00:00:01,500', 'Hello from mov_text'],
      ['00:00:02,000', '00:00:02,800', 'Is 1 < 2? Yes & no'],
    ]),
  );
  writeFileSync(join(d, 'fr.srt'), srt([['00:00:00,200', '00:00:01,000', 'Bonjour en ASS']]));
  writeFileSync(join(d, 'xx.srt'), srt([['00:00:01,000', '00:00:02,000', 'WebVTT sans langue']]));
  // Every input is bounded (-t before an -i belongs to that input): lavfi sources never end.
  const video = ['-f', 'lavfi', '-t', '3', '-i', 'testsrc2=size=160x90:rate=10'];
  const mp4 = join(d, 'movtext.mp4');
  ffmpeg([
    ...video,
    '-i',
    join(d, 'en.srt'),
    '-map',
    '0',
    '-map',
    '1',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-c:s',
    'mov_text',
    '-metadata:s:s:0',
    'language=eng',
    mp4,
  ]);
  const mkv = join(d, 'two.mkv');
  ffmpeg([
    ...video,
    '-i',
    join(d, 'fr.srt'),
    '-i',
    join(d, 'xx.srt'),
    '-map',
    '0',
    '-map',
    '1',
    '-map',
    '2',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-c:s:0',
    'ass',
    '-c:s:1',
    'webvtt',
    '-metadata:s:s:0',
    'language=fre',
    '-metadata:s:s:0',
    'title=Français "CC"',
    mkv,
  ]);

  it('mov_text in mp4: language and label from ffprobe, WebVTT with the cue text (escaped)', async () => {
    const streams = await probeSubtitles(FFPROBE, mp4);
    assert.equal(streams.length, 1);
    assert.deepEqual(
      [streams[0]!.index, streams[0]!.codec, streams[0]!.language, streams[0]!.label],
      [1, 'mov_text', 'en', 'English'],
    );
    const out = subdir('subs-mp4');
    const { tracks, skipped } = await extractSubtitles({ ffmpeg: INSTALL, input: mp4, dir: out, streams });
    assert.deepEqual(skipped, []);
    assert.deepEqual(tracks, [{ file: 'subtitles-0-en.vtt', language: 'en', label: 'English', sourceIndex: 1 }]);
    const vtt = readFileSync(join(out, tracks[0]!.file), 'utf8');
    assert.match(vtt, /^WEBVTT/);
    assert.match(vtt, /00:00\.500 --> 00:01\.500\nHello from mov_text/);
    assert.match(vtt, /Is 1 &lt; 2\? Yes &amp; no/);
  });

  it('ASS and WebVTT in mkv: both converted in one run; title kept as label; no language is und', async () => {
    const probed = await probeSubtitles(FFPROBE, mkv);
    assert.deepEqual(
      probed.map((s) => [s.codec, s.language, s.label]),
      [
        ['ass', 'fr', "Français 'CC'"],
        ['webvtt', 'und', 'Unknown language'],
      ],
    );
    // A bitmap stream beside them (DVD subtitles cannot be made from text with ffmpeg, so this one
    // is described, not generated): skipped with why, and never given to ffmpeg.
    const dvd: SubtitleStreamInfo = {
      index: 9,
      codec: 'dvd_subtitle',
      kind: 'bitmap',
      language: 'en',
      label: 'English',
      default: false,
      forced: false,
    };
    const out = subdir('subs-mkv');
    const { tracks, skipped } = await extractSubtitles({
      ffmpeg: INSTALL,
      input: mkv,
      dir: out,
      streams: [probed[0]!, dvd, probed[1]!],
    });
    assert.deepEqual(
      tracks.map((t) => [t.file, t.language, t.label, t.sourceIndex]),
      [
        ['subtitles-0-fr.vtt', 'fr', "Français 'CC'", 1],
        ['subtitles-1-und.vtt', 'und', 'Unknown language', 2],
      ],
    );
    assert.equal(skipped.length, 1);
    assert.deepEqual([skipped[0]!.index, skipped[0]!.codec], [9, 'dvd_subtitle']);
    assert.match(skipped[0]!.why, /pictures/);
    assert.match(readFileSync(join(out, 'subtitles-0-fr.vtt'), 'utf8'), /Bonjour en ASS/);
    assert.match(
      readFileSync(join(out, 'subtitles-1-und.vtt'), 'utf8'),
      /00:01\.000 --> 00:02\.000\nWebVTT sans langue/,
    );
  });

  it('a source without subtitles: nothing listed, nothing written, no ffmpeg run', async () => {
    const plain = makeClip(join(d, 'plain.mp4'), { seconds: 1, audioChannels: 0, width: 160, height: 90 });
    const streams = await probeSubtitles(FFPROBE, plain);
    assert.deepEqual(streams, []);
    const out = subdir('subs-none');
    assert.deepEqual(await extractSubtitles({ ffmpeg: INSTALL, input: plain, dir: out, streams }), {
      tracks: [],
      skipped: [],
    });
  });

  it('an input ffprobe cannot read is a typed error', async () => {
    const junk = join(d, 'junk.mp4');
    writeFileSync(junk, 'not media\n'.repeat(20));
    await assert.rejects(
      probeSubtitles(FFPROBE, junk),
      (e: unknown) => e instanceof NommerError && e.code === 'INPUT_UNDECODABLE',
    );
  });
});

describe('subtitles in a real dash-muxer package', () => {
  const pkg = subdir('pkg');
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=320x180:rate=12',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    '6',
    '-map',
    '0:v',
    '-map',
    '1:a',
    '-c:v',
    'libvpx-vp9',
    '-deadline',
    'realtime',
    '-cpu-used',
    '8',
    '-g',
    '24',
    '-c:a',
    'libopus',
    '-f',
    'dash',
    '-dash_segment_type',
    'mp4',
    '-hls_playlist',
    '1',
    '-seg_duration',
    '4',
    '-adaptation_sets',
    'id=0,streams=v id=1,streams=a',
    join(pkg, 'manifest.mpd'),
  ]);
  const tracks: SubtitleTrack[] = [
    { file: 'subtitles-0-en.vtt', language: 'en', label: 'English', sourceIndex: 2 },
    { file: 'subtitles-1-fr.vtt', language: 'fr', label: 'Fr <"CC"> & co\n#EXT-X-ENDLIST', sourceIndex: 3 },
    { file: 'subtitles-2-en.vtt', language: 'en', label: 'English', sourceIndex: 4 },
  ];

  it('manifest.mpd: one well-formed text AdaptationSet per track, inside the Period', () => {
    const before = readFileSync(join(pkg, 'manifest.mpd'), 'utf8');
    const mpd = addSubtitlesToDash(before, tracks);
    writeFileSync(join(pkg, 'manifest.mpd'), mpd);
    const root = parseXml(mpd);
    assert.equal(root.name, 'MPD');
    const periods = kids(root, 'Period');
    assert.equal(periods.length, 1);
    const sets = kids(periods[0]!, 'AdaptationSet');
    assert.deepEqual(
      sets.map((s) => s.attrs.contentType),
      ['video', 'audio', 'text', 'text', 'text'],
    );
    const ids = sets.map((s) => s.attrs.id);
    assert.equal(new Set(ids).size, ids.length, 'AdaptationSet ids are unique');
    const text = sets.filter((s) => s.attrs.contentType === 'text');
    tracks.forEach((t, i) => {
      const s = text[i]!;
      assert.equal(s.attrs.mimeType, 'text/vtt');
      assert.equal(s.attrs.lang, t.language);
      assert.deepEqual(kids(s, 'Role')[0]!.attrs, { schemeIdUri: 'urn:mpeg:dash:role:2011', value: 'subtitle' });
      const reps = kids(s, 'Representation');
      assert.equal(reps.length, 1);
      assert.ok(Number(reps[0]!.attrs.bandwidth) > 0);
      assert.ok(reps[0]!.attrs.id);
      assert.equal(kids(reps[0]!, 'BaseURL')[0]!.text, t.file);
    });
    assert.equal(kids(text[1]!, 'Label')[0]!.text, "Fr <'CC'> & co #EXT-X-ENDLIST");
    // Nothing else was touched.
    assert.equal(
      mpd.replace(/\n\t\t<AdaptationSet id="[234]" contentType="text"[\s\S]*?<\/AdaptationSet>/g, ''),
      before,
    );
    assert.equal(addSubtitlesToDash(before, []), before);
  });

  it('an MPD that is not one-Period is refused, not guessed at', () => {
    const mpd = readFileSync(join(pkg, 'manifest.mpd'), 'utf8');
    const two = mpd.replace('</Period>', '</Period>\n<Period id="1"></Period>');
    assert.throws(
      () => addSubtitlesToDash(two, tracks),
      (e: unknown) => e instanceof NommerError,
    );
    assert.throws(
      () => addSubtitlesToDash(mpd, [{ ...tracks[0]!, file: '../x.vtt' }]),
      (e: unknown) => e instanceof NommerError,
    );
  });

  it('master.m3u8: a SUBTITLES group, every STREAM-INF points at it, valid media playlists', () => {
    const before = readFileSync(join(pkg, 'master.m3u8'), 'utf8');
    const { master, playlists } = addSubtitlesToHls(before, tracks, 6);
    const lines = master.split('\n').filter(Boolean);
    assert.equal(lines[0], '#EXTM3U');
    const media = lines.filter((l) => l.startsWith('#EXT-X-MEDIA:')).map((l) => parseAttrs(l.slice(13)));
    const subs = media.filter((m) => m.TYPE === 'SUBTITLES');
    assert.equal(subs.length, 3);
    assert.ok(
      media.some((m) => m.TYPE === 'AUDIO'),
      'the audio group is kept',
    );
    for (const [i, m] of subs.entries()) {
      assert.equal(m['GROUP-ID'], 'subs');
      assert.equal(m.LANGUAGE, tracks[i]!.language);
      assert.equal(m.DEFAULT, 'NO');
      assert.equal(m.AUTOSELECT, 'YES');
      assert.equal(m.URI, tracks[i]!.file.replace('.vtt', '.m3u8'));
    }
    assert.deepEqual(
      subs.map((m) => m.NAME),
      ['English', "Fr <'CC'> & co #EXT-X-ENDLIST", 'English (2)'],
    );
    const streamInf = lines.filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
    assert.ok(streamInf.length >= 1);
    for (const l of streamInf) {
      const a = parseAttrs(l.slice(18));
      assert.equal(a.SUBTITLES, 'subs');
      assert.ok(a.BANDWIDTH);
    }
    // Every STREAM-INF is still followed by its URI; the media lines come before the variants.
    for (let i = 0; i < lines.length; i++)
      if (lines[i]!.startsWith('#EXT-X-STREAM-INF:')) assert.match(lines[i + 1]!, /^media_\d+\.m3u8$/);
    assert.ok(
      lines.findIndex((l) => l.includes('TYPE=SUBTITLES')) < lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF')),
    );
    assert.equal(playlists.length, 3);
    for (const [i, p] of playlists.entries()) {
      assert.equal(p.name, tracks[i]!.file.replace('.vtt', '.m3u8'));
      const { target, segments } = checkMediaPlaylist(p.text);
      assert.equal(target, 6);
      assert.deepEqual(segments, [{ duration: 6, uri: tracks[i]!.file }]);
    }
    assert.throws(() => addSubtitlesToHls(master, tracks, 6), /already lists subtitles/);
    assert.deepEqual(addSubtitlesToHls(before, [], 6), { master: before, playlists: [] });
    assert.throws(
      () => addSubtitlesToHls(before, tracks, 0),
      (e: unknown) => e instanceof NommerError,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('thumbnails: layout', () => {
  it('sizes: square pixels, even, the display aspect; the poster at most 1280 wide', () => {
    assert.deepEqual(sizeForWidth(160, 854, 481), { width: 160, height: 90 });
    assert.deepEqual(sizeForWidth(160, 480, 360), { width: 160, height: 120 });
    assert.deepEqual(sizeForWidth(161, 1080, 1920), { width: 162, height: 288 });
    assert.deepEqual(posterSize(1920, 1080), { width: 1280, height: 720 });
    assert.deepEqual(posterSize(854, 481), { width: 854, height: 482 });
    assert.deepEqual(posterSize(853, 480), { width: 854, height: 480 });
  });

  it('cues: one tile every N s over [0, duration), row-major in CxR sprites, at least one', () => {
    assert.equal(thumbnailCount(1.5, 2), 1);
    assert.equal(thumbnailCount(6, 2), 3);
    assert.equal(thumbnailCount(6.5, 2), 4);
    const cues = thumbnailCues({
      duration: 13,
      everySeconds: 2,
      tile: { width: 160, height: 90 },
      columns: 2,
      rows: 2,
    });
    assert.equal(cues.length, 7);
    assert.deepEqual(
      cues.map((c) => [c.start, c.end, c.sprite, c.x, c.y]),
      [
        [0, 2, 'thumbnails-1.webp', 0, 0],
        [2, 4, 'thumbnails-1.webp', 160, 0],
        [4, 6, 'thumbnails-1.webp', 0, 90],
        [6, 8, 'thumbnails-1.webp', 160, 90],
        [8, 10, 'thumbnails-2.webp', 0, 0],
        [10, 12, 'thumbnails-2.webp', 160, 0],
        [12, 13, 'thumbnails-2.webp', 0, 90],
      ],
    );
    assert.equal(formatVttTime(0), '00:00:00.000');
    assert.equal(formatVttTime(3725.0456), '01:02:05.046');
    assert.equal(formatVttTime(59.9996), '00:01:00.000');
    assert.equal(
      thumbnailsVtt(cues.slice(0, 2)),
      'WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nthumbnails-1.webp#xywh=0,0,160,90\n\n' +
        '00:00:02.000 --> 00:00:04.000\nthumbnails-1.webp#xywh=160,0,160,90\n',
    );
  });
});

function vttTime(s: string): number {
  const m = /^(\d{2}):(\d{2}):(\d{2})\.(\d{3})$/.exec(s);
  assert.ok(m, `bad time ${s}`);
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
}

/** thumbnails.vtt read back: cues gapless over [0, duration), each #xywh inside its sprite. */
function checkThumbnails(dir: string, duration: number, sprites: string[]): number {
  const vtt = readFileSync(join(dir, 'thumbnails.vtt'), 'utf8');
  const blocks = vtt.trim().split(/\n\n+/);
  assert.equal(blocks[0], 'WEBVTT');
  let t = 0;
  const sizes = new Map(sprites.map((s) => [s, webpSize(join(dir, s))]));
  for (const b of blocks.slice(1)) {
    const [timing, ref] = b.split('\n');
    const [a, z] = timing!.split(' --> ');
    assert.equal(vttTime(a!), t, `cue starts where the previous ended (${timing})`);
    assert.ok(vttTime(z!) > vttTime(a!));
    t = vttTime(z!);
    const m = /^(thumbnails-\d+\.webp)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(ref!);
    assert.ok(m, `bad cue ${ref}`);
    const size = sizes.get(m[1]!);
    assert.ok(size, `${m[1]} is one of the sprites`);
    const [x, y, w, h] = m.slice(2).map(Number) as [number, number, number, number];
    assert.ok(w > 0 && h > 0 && x + w <= size.width && y + h <= size.height, `${ref} inside ${JSON.stringify(size)}`);
  }
  assert.ok(Math.abs(t - duration) < 0.001, `cues end at the duration (${t})`);
  return blocks.length - 1;
}

describe('thumbnails: real clips', () => {
  it('a 4:3 source with non-square pixels: square-pixel poster and tiles of its display aspect', async () => {
    const d = subdir('thumbs-43');
    const src = join(d, 'anamorphic.mp4');
    ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=360x360:rate=10',
      '-t',
      '5',
      '-vf',
      'setsar=4/3',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      src,
    ]);
    const info = await probeInput(FFPROBE, src);
    assert.deepEqual([info.video!.displayWidth, info.video!.displayHeight], [480, 360]);
    const out = subdir('thumbs-43/pkg');
    const r = await makeThumbnails({
      ffmpeg: INSTALL,
      input: src,
      duration: info.duration,
      displayWidth: info.video!.displayWidth,
      displayHeight: info.video!.displayHeight,
      dir: out,
      columns: 2,
      rows: 1,
    });
    assert.equal(r.poster, 'poster.webp');
    assert.equal(r.vtt, 'thumbnails.vtt');
    assert.deepEqual(r.tile, { width: 160, height: 120 });
    assert.equal(r.count, 3);
    assert.deepEqual(r.sprites, ['thumbnails-1.webp', 'thumbnails-2.webp']);
    const poster = probe(join(out, 'poster.webp')).streams[0]!;
    assert.equal(poster.codec_name, 'webp');
    assert.deepEqual([poster.width, poster.height], [480, 360]);
    assert.deepEqual(webpSize(join(out, 'thumbnails-1.webp')), { width: 320, height: 120 });
    assert.equal(checkThumbnails(out, info.duration, r.sprites), 3);
  });

  it('a 16:9 source with an odd height (854x481), and one shorter than a tile interval', async () => {
    const d = subdir('thumbs-169');
    const src = join(d, 'odd.mp4');
    makeClip(src, { seconds: 7, width: 854, height: 481, fps: 10, audioChannels: 0, extra: ['-pix_fmt', 'yuv444p'] });
    const info = await probeInput(FFPROBE, src);
    const out = subdir('thumbs-169/pkg');
    const r = await makeThumbnails({
      ffmpeg: INSTALL,
      input: src,
      duration: info.duration,
      displayWidth: info.video!.displayWidth,
      displayHeight: info.video!.displayHeight,
      dir: out,
    });
    assert.deepEqual(r.tile, { width: 160, height: 90 });
    assert.equal(r.count, 4);
    assert.deepEqual(r.sprites, ['thumbnails-1.webp']);
    const poster = webpSize(join(out, 'poster.webp'));
    assert.equal(poster.width, 854);
    assert.equal(poster.height % 2, 0);
    assert.ok(Math.abs(poster.width / poster.height - 854 / 481) < 0.01, `poster aspect ${JSON.stringify(poster)}`);
    assert.deepEqual(webpSize(join(out, 'thumbnails-1.webp')), { width: 800, height: 450 });
    assert.equal(checkThumbnails(out, info.duration, r.sprites), 4);

    const short = makeClip(join(d, 'short.mp4'), { seconds: 1.5, width: 320, height: 180, fps: 10, audioChannels: 0 });
    const shortOut = subdir('thumbs-169/short');
    const s = await makeThumbnails({
      ffmpeg: INSTALL,
      input: short,
      duration: 1.5,
      displayWidth: 320,
      displayHeight: 180,
      dir: shortOut,
    });
    assert.equal(s.count, 1);
    assert.ok(existsSync(join(shortOut, 'poster.webp')));
    assert.equal(checkThumbnails(shortOut, 1.5, s.sprites), 1);
  });

  it('an unknown duration is a typed error before any ffmpeg run', async () => {
    await assert.rejects(
      makeThumbnails({
        ffmpeg: INSTALL,
        input: '/nonexistent.mp4',
        duration: 0,
        displayWidth: 320,
        displayHeight: 180,
        dir: tmp.path,
      }),
      (e: unknown) => e instanceof NommerError && e.code === 'INPUT_UNDECODABLE',
    );
  });
});
