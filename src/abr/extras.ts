// The extras of an adaptive-streaming package, beside what the dash muxer writes: the source's text
// subtitles as WebVTT files listed in both manifests, a poster and a seek-thumbnail track.
// - Subtitles: ffmpeg's dash muxer cannot carry them, so each text stream (mov_text, SRT, ASS,
//   WebVTT...) is converted to a sidecar .vtt in one ffmpeg run, then listed by editing the text
//   of manifest.mpd (one text AdaptationSet per track) and master.m3u8 (an EXT-X-MEDIA group and a
//   one-segment media playlist per track). Bitmap subtitles (DVD, PGS, DVB) cannot become WebVTT
//   without OCR: they are skipped and reported with why.
// - Thumbnails: one ffmpeg run decodes the video once and writes poster.webp (a frame at 10% of
//   the duration) and sprite sheets of tiles (one every few seconds); thumbnails.vtt points at the
//   tiles with `#xywh=` fragments. Sizes are computed here from the display size (square pixels,
//   even heights, all tiles alike), never left to ffmpeg's `-2`.
// The MPD is edited as text rather than through an XML library: it is ffmpeg's own output, with
// one Period, and the insertion escapes everything it writes (see addSubtitlesToDash).
// Callers only call makeThumbnails for sources with video; the ffmpeg run needs a video stream.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { NommerError } from '../errors.js';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import { ffmpegInputArg, ffprobeOutput, keptFfprobeText } from '../ffmpeg/probe.js';
import { runFfmpeg } from '../ffmpeg/run.js';

// ---------------------------------------------------------------------------------------------
// Subtitles: probing and classifying

export type SubtitleKind = 'text' | 'bitmap' | 'other';

export interface SubtitleStreamInfo {
  /** The stream's index in the input (for `-map 0:<index>`). */
  index: number;
  codec: string;
  kind: SubtitleKind;
  /** BCP-47 language ("en", "pt-BR"), "und" when the stream has none. */
  language: string;
  /** What a player shows: the stream's title, else the language's English name. */
  label: string;
  title?: string;
  default: boolean;
  forced: boolean;
}

export interface SubtitleTrack {
  /** File name relative to the package directory, e.g. "subtitles-0-en.vtt". */
  file: string;
  language: string;
  label: string;
  /** The subtitle stream's index in the source. */
  sourceIndex: number;
}

export interface SkippedSubtitle {
  index: number;
  codec: string;
  why: string;
}

/** Text subtitle codecs ffmpeg decodes to its text form, which its webvtt encoder writes. */
export const TEXT_SUBTITLE_CODECS: ReadonlySet<string> = new Set([
  'mov_text',
  'subrip',
  'srt',
  'ass',
  'ssa',
  'webvtt',
  'text',
  'microdvd',
  'mpl2',
  'jacosub',
  'pjs',
  'realtext',
  'sami',
  'stl',
  'subviewer',
  'subviewer1',
  'vplayer',
  'eia_608',
]);

/** Picture-based subtitles: making text of them needs OCR, which ffmpeg does not do. */
export const BITMAP_SUBTITLE_CODECS: ReadonlySet<string> = new Set([
  'dvd_subtitle',
  'hdmv_pgs_subtitle',
  'dvb_subtitle',
  'xsub',
  'dvb_teletext',
  'hdmv_text_subtitle',
]);

export function subtitleKind(codec: string): SubtitleKind {
  if (TEXT_SUBTITLE_CODECS.has(codec)) return 'text';
  if (BITMAP_SUBTITLE_CODECS.has(codec)) return 'bitmap';
  return 'other';
}

/** Why a stream of this kind is not converted; undefined for text streams. */
export function whySkipped(s: Pick<SubtitleStreamInfo, 'codec' | 'kind'>): string | undefined {
  if (s.kind === 'text') return undefined;
  if (s.kind === 'bitmap')
    return `${s.codec} subtitles are pictures, not text: WebVTT needs text (OCR them to SRT to include them)`;
  return `${s.codec} is not a text subtitle codec that ffmpeg converts to WebVTT`;
}

// ISO 639-2 codes (bibliographic and terminology) most often seen in files, for an ICU without
// full locale data; Intl.getCanonicalLocales maps the rest where the runtime knows them.
const ISO639_2: Record<string, string> = {
  eng: 'en',
  fre: 'fr',
  fra: 'fr',
  ger: 'de',
  deu: 'de',
  spa: 'es',
  ita: 'it',
  por: 'pt',
  dut: 'nl',
  nld: 'nl',
  rus: 'ru',
  jpn: 'ja',
  chi: 'zh',
  zho: 'zh',
  kor: 'ko',
  ara: 'ar',
  hin: 'hi',
  swe: 'sv',
  nor: 'no',
  dan: 'da',
  fin: 'fi',
  pol: 'pl',
  tur: 'tr',
  gre: 'el',
  ell: 'el',
  heb: 'he',
  cze: 'cs',
  ces: 'cs',
  hun: 'hu',
  rum: 'ro',
  ron: 'ro',
  ukr: 'uk',
};

const LANGUAGE_TAG = /^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$/;

/**
 * A language tag as BCP-47 wants it: ISO 639-2 "eng" becomes "en" where the mapping is known,
 * other well-formed tags are kept (canonicalized when the runtime can), anything else (missing,
 * empty, with spaces or quotes) is "und". The result only ever holds letters, digits and dashes.
 */
export function bcp47Language(tag: string | undefined): string {
  const t = (tag ?? '').trim();
  if (!LANGUAGE_TAG.test(t)) return 'und';
  const mapped = ISO639_2[t.toLowerCase()];
  if (mapped) return mapped;
  let canonical: string | undefined;
  try {
    canonical = Intl.getCanonicalLocales(t)[0];
  } catch {
    canonical = undefined;
  }
  const out = canonical && LANGUAGE_TAG.test(canonical) ? canonical : t.toLowerCase();
  return out;
}

let displayNames: Intl.DisplayNames | undefined | null;
function languageName(language: string): string | undefined {
  if (displayNames === undefined) {
    try {
      displayNames = new Intl.DisplayNames(['en'], { type: 'language' });
    } catch {
      displayNames = null;
    }
  }
  if (!displayNames) return undefined;
  try {
    const name = displayNames.of(language);
    return name && name !== language && name !== 'root' ? name : undefined;
  } catch {
    return undefined;
  }
}

/** A label safe in any manifest: no control characters (so no newlines), no double quotes. */
export function cleanLabel(s: string): string {
  return s
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ')
    .replace(/"/g, "'")
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 100)
    .trim();
}

/** The stream's title, else the language's English name ("English"), else the language code. */
export function subtitleLabel(title: string | undefined, language: string): string {
  const fromTitle = cleanLabel(title ?? '');
  if (fromTitle) return fromTitle;
  if (language === 'und') return 'Unknown language';
  return cleanLabel(languageName(language) ?? language) || language;
}

interface RawSubtitleStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  disposition?: { default?: number; forced?: number };
  tags?: Record<string, string>;
}

/** ffprobe's `-show_streams -of json` output reduced to its subtitle streams. */
export function toSubtitleStreams(raw: { streams?: RawSubtitleStream[] }): SubtitleStreamInfo[] {
  return (raw.streams ?? [])
    .filter((s) => (s.codec_type ?? 'subtitle') === 'subtitle')
    .map((s) => {
      const codec = s.codec_name ?? 'unknown';
      const tags = s.tags ?? {};
      // Matroska writes tag names upper case when they come from other tools.
      const language = bcp47Language(tags.language ?? tags.LANGUAGE);
      const title = tags.title ?? tags.TITLE;
      return {
        index: s.index,
        codec,
        kind: subtitleKind(codec),
        language,
        label: subtitleLabel(title, language),
        ...(title ? { title } : {}),
        default: s.disposition?.default === 1,
        forced: s.disposition?.forced === 1,
      };
    });
}

export async function probeSubtitles(
  ffprobe: string,
  input: string,
  signal?: AbortSignal,
): Promise<SubtitleStreamInfo[]> {
  // The source's probe (probeInput's arguments: every stream, the subtitles picked out below), so
  // the extras task reads what its probeInput of the same file kept instead of a second ffprobe.
  const out = await keptFfprobeText(
    ffprobe,
    input,
    ['-print_format', 'json', '-show_format', '-show_streams', ffmpegInputArg(input)],
    signal,
  ).catch((err: NommerError) => {
    throw err.code === 'INPUT_UNDECODABLE'
      ? new NommerError('INPUT_UNDECODABLE', `cannot list the subtitle streams of ${input}: ${err.message}`, {
          hint: 'is it a media file? ffprobe could not read it',
          detail: err.detail,
        })
      : err;
  });
  let raw: { streams?: RawSubtitleStream[] };
  try {
    raw = ffprobeOutput.parse(JSON.parse(out));
  } catch {
    throw new NommerError('INPUT_UNDECODABLE', `ffprobe gave no stream list for ${input}`, {
      hint: 'is it a media file? ffprobe could not read it',
    });
  }
  return toSubtitleStreams(raw);
}

// ---------------------------------------------------------------------------------------------
// Subtitles: extraction

/** `subtitles-<n>-<lang>.vtt`; n counts the package's tracks from 0. */
export function subtitleFileName(n: number, language: string): string {
  return `subtitles-${n}-${fileLanguage(language)}.vtt`;
}

/** RFC 5646 asks every implementation to take tags of 35 characters: longer ones are cut to fit. */
const FILE_LANGUAGE_MAX = 35;

/**
 * The language as a file name carries it: a tag may have any number of subtags, and a file name
 * of hundreds of characters fails the whole package (ENAMETOOLONG). The leading subtags (language,
 * script, region) are kept while they fit, without a dangling singleton; the name is for people,
 * and the manifests carry the track's language (n alone keeps names apart).
 */
function fileLanguage(language: string): string {
  const subtags = bcp47Language(language).split('-');
  const kept: string[] = [];
  for (const sub of subtags) {
    if ([...kept, sub].join('-').length > FILE_LANGUAGE_MAX) break;
    kept.push(sub);
  }
  while (kept.length > 1 && kept[kept.length - 1]!.length === 1) kept.pop();
  return kept.join('-') || 'und';
}

// What WebVTT cue text may hold as markup: its own tags, timestamps and character references.
const VTT_MARKUP =
  /(<\/?(?:b|i|u|c|v|lang|ruby|rt)(?:[.\s][^<>\n]*)?>|<(?:\d+:)?\d{2}:\d{2}\.\d{3}>|&(?:[A-Za-z][A-Za-z0-9]*|#\d+|#[xX][0-9A-Fa-f]+);)|[<&]/g;

/**
 * ffmpeg's webvtt encoder copies `<` and `&` of the subtitle text as they are, so "1 < 2" starts a
 * tag that eats the rest of the cue in a player. This escapes, in cue payload lines only, every
 * `<` and `&` that does not begin WebVTT markup, and the `-->` that a payload must not contain.
 */
export function escapeVttCueText(vtt: string): string {
  const lines = vtt.split(/\r?\n/);
  let inPayload = false;
  let inHeader = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      inPayload = false;
      inHeader = false;
      continue;
    }
    if (inHeader) continue;
    if (inPayload) {
      lines[i] = line.replace(VTT_MARKUP, (m, markup?: string) => markup ?? (m === '<' ? '&lt;' : '&amp;'));
      lines[i] = lines[i]!.replace(/-->/g, '--&gt;');
    } else if (line.includes('-->')) inPayload = true;
  }
  return lines.join('\n');
}

export interface ExtractSubtitlesRequest {
  ffmpeg: FfmpegInstall;
  input: string;
  /** The package directory (it exists). */
  dir: string;
  /** From probeSubtitles; non-text ones are skipped and reported. */
  streams: SubtitleStreamInfo[];
  signal?: AbortSignal;
}

/**
 * Converts every text subtitle stream to `dir/subtitles-<n>-<lang>.vtt` in one ffmpeg run (one
 * output per stream). Timestamps are the source's less its start time, as in the packaging run
 * (ffmpeg subtracts the same start time from both), so cues line up with the segments.
 */
export async function extractSubtitles(
  req: ExtractSubtitlesRequest,
): Promise<{ tracks: SubtitleTrack[]; skipped: SkippedSubtitle[] }> {
  const tracks: SubtitleTrack[] = [];
  const skipped: SkippedSubtitle[] = [];
  for (const s of req.streams) {
    const why = whySkipped(s);
    if (why) {
      skipped.push({ index: s.index, codec: s.codec, why });
      continue;
    }
    tracks.push({
      file: subtitleFileName(tracks.length, s.language),
      language: bcp47Language(s.language),
      label: subtitleLabel(s.label, s.language),
      sourceIndex: s.index,
    });
  }
  if (tracks.length === 0) return { tracks, skipped };
  const dir = resolve(req.dir);
  const args = ['-y', '-i', ffmpegInputArg(req.input)];
  for (const t of tracks)
    args.push('-map', `0:${t.sourceIndex}`, '-c:s', 'webvtt', '-f', 'webvtt', `file:${join(dir, t.file)}`);
  await runFfmpeg(req.ffmpeg.ffmpeg, args, { signal: req.signal });
  for (const t of tracks) {
    const path = join(dir, t.file);
    const text = await readFile(path, 'utf8');
    const fixed = escapeVttCueText(text);
    if (fixed !== text) await writeFile(path, fixed);
  }
  return { tracks, skipped };
}

// ---------------------------------------------------------------------------------------------
// Subtitles in the manifests

const SAFE_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]*\.vtt$/;

/** Tracks as the manifests may hold them: file names checked, languages and labels cleaned. */
function checkedTracks(tracks: SubtitleTrack[]): SubtitleTrack[] {
  const seen = new Set<string>();
  return tracks.map((t) => {
    if (!SAFE_FILE.test(t.file) || t.file.includes('..'))
      throw new NommerError('INTERNAL', `subtitle file name ${JSON.stringify(t.file)} cannot go in a manifest`, {
        hint: 'subtitle files are named subtitles-<n>-<lang>.vtt inside the package directory',
      });
    if (seen.has(t.file)) throw new NommerError('INTERNAL', `subtitle file ${t.file} is listed twice`);
    seen.add(t.file);
    const language = bcp47Language(t.language);
    return { ...t, language, label: subtitleLabel(t.label, language) };
  });
}

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A nominal bandwidth (bits/s) for a sidecar WebVTT file: players need the attribute, not its size. */
export const SUBTITLE_BANDWIDTH = 256;

/**
 * Lists the tracks in ffmpeg's manifest.mpd: one text AdaptationSet per track, inserted before
 * the closing tag of its only Period (ffmpeg writes one for a static presentation; any other
 * shape is refused rather than guessed at). AdaptationSet ids continue after the highest there.
 */
export function addSubtitlesToDash(mpd: string, tracks: SubtitleTrack[]): string {
  const checked = checkedTracks(tracks);
  if (checked.length === 0) return mpd;
  const closes = [...mpd.matchAll(/<\/Period\s*>/g)];
  if (!/<MPD[\s>]/.test(mpd) || closes.length !== 1)
    throw new NommerError(
      'INTERNAL',
      `manifest.mpd has ${closes.length} Periods; subtitles are added to an MPD with exactly one`,
      { hint: 'the MPD should be the one the dash muxer wrote for a static package' },
    );
  const at = closes[0]!.index!;
  const lineStart = mpd.lastIndexOf('\n', at) + 1;
  const indent = /^[ \t]*$/.test(mpd.slice(lineStart, at)) ? mpd.slice(lineStart, at) : '';
  const unit = indent.startsWith('\t') || indent === '' ? '\t' : '  ';
  const ids = [...mpd.matchAll(/<AdaptationSet\b[^>]*?\sid="(\d+)"/g)].map((m) => Number(m[1]));
  let nextId = ids.length ? Math.max(...ids) + 1 : 0;
  const i1 = indent + unit;
  const i2 = i1 + unit;
  const i3 = i2 + unit;
  const sets = checked.map((t) => {
    const id = nextId++;
    const repId = t.file.replace(/\.vtt$/, '');
    return [
      `${i1}<AdaptationSet id="${id}" contentType="text" mimeType="text/vtt" lang="${xmlEscape(t.language)}">`,
      `${i2}<Role schemeIdUri="urn:mpeg:dash:role:2011" value="subtitle"/>`,
      `${i2}<Label>${xmlEscape(t.label)}</Label>`,
      `${i2}<Representation id="${xmlEscape(repId)}" bandwidth="${SUBTITLE_BANDWIDTH}">`,
      `${i3}<BaseURL>${xmlEscape(t.file)}</BaseURL>`,
      `${i2}</Representation>`,
      `${i1}</AdaptationSet>`,
    ].join('\n');
  });
  return `${mpd.slice(0, lineStart)}${sets.join('\n')}\n${mpd.slice(lineStart)}`;
}

/** The HLS media playlist of one sidecar .vtt: a single segment over the whole presentation. */
export function subtitlePlaylist(file: string, durationSeconds: number): string {
  return [
    '#EXTM3U',
    `#EXT-X-TARGETDURATION:${Math.max(1, Math.ceil(durationSeconds))}`,
    '#EXT-X-VERSION:3',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    `#EXTINF:${durationSeconds.toFixed(3)},`,
    file,
    '#EXT-X-ENDLIST',
    '',
  ].join('\n');
}

export const HLS_SUBTITLE_GROUP = 'subs';

/**
 * Lists the tracks in ffmpeg's master.m3u8: EXT-X-MEDIA lines of TYPE=SUBTITLES (after its other
 * EXT-X-MEDIA lines), `SUBTITLES="subs"` on every EXT-X-STREAM-INF, and for each track a media
 * playlist (`subtitles-<n>-<lang>.m3u8`, written by the caller beside the .vtt). NAMEs are made
 * unique within the group, as HLS requires. No tracks: the master is returned unchanged.
 */
export function addSubtitlesToHls(
  master: string,
  tracks: SubtitleTrack[],
  durationSeconds: number,
): { master: string; playlists: Array<{ name: string; text: string }> } {
  const checked = checkedTracks(tracks);
  if (checked.length === 0) return { master, playlists: [] };
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0)
    throw new NommerError('INTERNAL', `subtitle playlists need the presentation's duration, not ${durationSeconds}`);
  const lines = master.replace(/\r?\n$/, '').split(/\r?\n/);
  if (lines[0]?.trim() !== '#EXTM3U')
    throw new NommerError('INTERNAL', 'master.m3u8 does not start with #EXTM3U', {
      hint: 'the playlist should be the one the dash muxer wrote with -hls_playlist 1',
    });
  if (lines.some((l) => /^#EXT-X-MEDIA:.*TYPE=SUBTITLES/.test(l) || /^#EXT-X-STREAM-INF:.*SUBTITLES=/.test(l)))
    throw new NommerError('INTERNAL', 'master.m3u8 already lists subtitles');
  const streamInf = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  if (streamInf < 0) throw new NommerError('INTERNAL', 'master.m3u8 has no #EXT-X-STREAM-INF');
  const names = new Set<string>();
  const playlists: Array<{ name: string; text: string }> = [];
  const media = checked.map((t) => {
    let name = t.label;
    for (let n = 2; names.has(name); n++) name = `${t.label} (${n})`;
    names.add(name);
    const playlist = t.file.replace(/\.vtt$/, '.m3u8');
    playlists.push({ name: playlist, text: subtitlePlaylist(t.file, durationSeconds) });
    return `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="${HLS_SUBTITLE_GROUP}",NAME="${name}",LANGUAGE="${t.language}",DEFAULT=NO,AUTOSELECT=YES,URI="${playlist}"`;
  });
  let lastMedia = -1;
  for (let i = 0; i < streamInf; i++) if (lines[i]!.startsWith('#EXT-X-MEDIA:')) lastMedia = i;
  const insertAt = lastMedia >= 0 ? lastMedia + 1 : streamInf;
  const out = lines.map((l) => (l.startsWith('#EXT-X-STREAM-INF:') ? `${l},SUBTITLES="${HLS_SUBTITLE_GROUP}"` : l));
  out.splice(insertAt, 0, ...media);
  return { master: `${out.join('\n')}\n`, playlists };
}

// ---------------------------------------------------------------------------------------------
// Poster and seek thumbnails: pure layout

export interface Size {
  width: number;
  height: number;
}

/** The nearest even number, at least 2 (yuv420p and most encoders want even sizes). */
export function even(n: number): number {
  return Math.max(2, 2 * Math.round(n / 2));
}

/** A size `width` wide (made even) with the display aspect, its height even. */
export function sizeForWidth(width: number, displayWidth: number, displayHeight: number): Size {
  const w = even(width);
  return { width: w, height: even((w * displayHeight) / displayWidth) };
}

/** The poster: the display size, at most `maxWidth` wide. */
export function posterSize(displayWidth: number, displayHeight: number, maxWidth = 1280): Size {
  return sizeForWidth(Math.min(maxWidth, displayWidth), displayWidth, displayHeight);
}

/** Tiles over [0, duration): one every `everySeconds`, at least one. */
export function thumbnailCount(duration: number, everySeconds: number): number {
  return Math.max(1, Math.ceil(duration / everySeconds - 1e-9));
}

export interface ThumbnailCue {
  start: number;
  end: number;
  /** Sprite image file name. */
  sprite: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** `thumbnails-<n>.webp`, n from 1. */
export function spriteName(n: number, ext = 'webp'): string {
  return `thumbnails-${n}.${ext}`;
}

/**
 * Where each tile is: tile k shows [k*every, (k+1)*every) (the last one ends at the duration), in
 * sprite floor(k / (columns*rows)), row-major as ffmpeg's tile filter fills it.
 */
export function thumbnailCues(o: {
  duration: number;
  everySeconds: number;
  tile: Size;
  columns: number;
  rows: number;
  ext?: string;
}): ThumbnailCue[] {
  const count = thumbnailCount(o.duration, o.everySeconds);
  const perSprite = o.columns * o.rows;
  const cues: ThumbnailCue[] = [];
  for (let k = 0; k < count; k++) {
    const inSprite = k % perSprite;
    cues.push({
      start: k * o.everySeconds,
      end: k === count - 1 ? o.duration : (k + 1) * o.everySeconds,
      sprite: spriteName(Math.floor(k / perSprite) + 1, o.ext),
      x: (inSprite % o.columns) * o.tile.width,
      y: Math.floor(inSprite / o.columns) * o.tile.height,
      w: o.tile.width,
      h: o.tile.height,
    });
  }
  return cues;
}

/** WebVTT's `HH:MM:SS.mmm`. */
export function formatVttTime(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

export function thumbnailsVtt(cues: ThumbnailCue[]): string {
  const blocks = cues.map(
    (c) => `${formatVttTime(c.start)} --> ${formatVttTime(c.end)}\n${c.sprite}#xywh=${c.x},${c.y},${c.w},${c.h}\n`,
  );
  return `WEBVTT\n\n${blocks.join('\n')}`;
}

/** A frame rate of one frame every `seconds`, as a rational ffmpeg parses exactly. */
function everyRate(seconds: number): string {
  return `1000/${Math.round(seconds * 1000)}`;
}

/**
 * The filter graph of the one thumbnail run: the video split in two, one branch keeping the first
 * frame at `posterAt` (then ending), the other one frame every `everySeconds`, exactly `count` of
 * them (the stream is padded with its last frame so that a video ending a little before the
 * duration still fills every tile), scaled to the tile size and laid out `columns`x`rows`.
 */
export function thumbnailFilter(o: {
  posterAt: number;
  poster: Size;
  everySeconds: number;
  count: number;
  tile: Size;
  columns: number;
  rows: number;
  padSeconds: number;
}): string {
  return [
    '[0:v:0]split=2[p][s]',
    `[p]trim=start=${o.posterAt.toFixed(3)},trim=end_frame=1,scale=${o.poster.width}:${o.poster.height},setsar=1[poster]`,
    `[s]tpad=stop_mode=clone:stop_duration=${o.padSeconds.toFixed(3)},fps=${everyRate(o.everySeconds)},` +
      `trim=end_frame=${o.count},scale=${o.tile.width}:${o.tile.height},setsar=1,tile=${o.columns}x${o.rows}[sprites]`,
  ].join(';');
}

// ---------------------------------------------------------------------------------------------
// Poster and seek thumbnails: the ffmpeg run

export interface ThumbnailsRequest {
  ffmpeg: FfmpegInstall;
  input: string;
  /** Seconds (ProbeInfo.duration). */
  duration: number;
  /** The source's display size (ProbeInfo.video.displayWidth/Height: rotation and SAR applied). */
  displayWidth: number;
  displayHeight: number;
  /** The package directory (it exists). */
  dir: string;
  everySeconds?: number;
  tileWidth?: number;
  columns?: number;
  rows?: number;
  signal?: AbortSignal;
}

export interface ThumbnailsResult {
  poster: 'poster.webp';
  vtt: 'thumbnails.vtt';
  sprites: string[];
  tile: Size;
  count: number;
}

/** WebP images are at most 16383 pixels on a side. */
const WEBP_MAX = 16383;

/**
 * Writes `poster.webp`, the sprite sheets `thumbnails-<n>.webp` and `thumbnails.vtt` into `dir`,
 * decoding the video once. Only for sources with video (the caller checks ProbeInfo.video).
 */
export async function makeThumbnails(req: ThumbnailsRequest): Promise<ThumbnailsResult> {
  const everySeconds = req.everySeconds ?? 2;
  const columns = req.columns ?? 5;
  const rows = req.rows ?? 5;
  const { duration, displayWidth, displayHeight } = req;
  if (!(Number.isFinite(duration) && duration > 0))
    throw new NommerError('INPUT_UNDECODABLE', `cannot make seek thumbnails: the input's duration is unknown`, {
      hint: 'remux the input so that its container states a duration',
    });
  if (!(displayWidth > 0 && displayHeight > 0))
    throw new NommerError('INPUT_NO_STREAMS', 'cannot make thumbnails of an input without video', {
      hint: 'thumbnails are only made for sources with a video stream',
    });
  if (!(everySeconds >= 0.1) || !Number.isInteger(columns) || !Number.isInteger(rows) || columns < 1 || rows < 1)
    throw new NommerError('CONFIG_INVALID', `bad thumbnail layout: every ${everySeconds} s, ${columns}x${rows}`, {
      hint: 'use at least 0.1 s between tiles and whole numbers of columns and rows',
    });
  const tile = sizeForWidth(req.tileWidth ?? 160, displayWidth, displayHeight);
  if (tile.width * columns > WEBP_MAX || tile.height * rows > WEBP_MAX)
    throw new NommerError(
      'CONFIG_INVALID',
      `thumbnail sprites of ${columns}x${rows} tiles of ${tile.width}x${tile.height} are too large`,
      {
        hint: `WebP images are at most ${WEBP_MAX} pixels on a side; use fewer columns or rows`,
      },
    );
  const poster = posterSize(displayWidth, displayHeight);
  const count = thumbnailCount(duration, everySeconds);
  const cues = thumbnailCues({ duration, everySeconds, tile, columns, rows });
  const sprites = [...new Set(cues.map((c) => c.sprite))];
  const dir = resolve(req.dir);
  const filter = thumbnailFilter({
    posterAt: duration * 0.1,
    poster,
    everySeconds,
    count,
    tile,
    columns,
    rows,
    padSeconds: Math.max(duration, everySeconds),
  });
  // image2 would otherwise run at a constant rate and could drop or repeat sheets.
  const image = ['-c:v', 'libwebp', '-f', 'image2', '-fps_mode', 'passthrough'];
  await runFfmpeg(
    req.ffmpeg.ffmpeg,
    [
      '-y',
      '-i',
      ffmpegInputArg(req.input),
      '-filter_complex',
      filter,
      '-map',
      '[poster]',
      ...image,
      `file:${join(dir, 'poster.webp')}`,
      '-map',
      '[sprites]',
      ...image,
      '-start_number',
      '1',
      `file:${join(dir, 'thumbnails-%d.webp')}`,
    ],
    { signal: req.signal },
  );
  const present = new Set(await readdir(dir));
  const missing = ['poster.webp', ...sprites].filter((f) => !present.has(f));
  if (missing.length)
    throw new NommerError('FFMPEG_FAILED', `ffmpeg wrote no ${missing.join(', ')}`, {
      hint: 'the video may end well before the duration the container states',
    });
  await writeFile(join(dir, 'thumbnails.vtt'), thumbnailsVtt(cues));
  return { poster: 'poster.webp', vtt: 'thumbnails.vtt', sprites, tile, count };
}

/**
 * Move every cue of a WebVTT file by `seconds` (negative: earlier); cues that end before 0 are
 * dropped and starts before 0 clamped. Cue text is untouched.
 */
export function shiftVtt(vtt: string, seconds: number): string {
  const parse = (t: string) => {
    const m = /^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$/.exec(t)!;
    return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
  };
  const blocks = vtt.replace(/\r\n/g, '\n').split(/\n\n+/);
  const out: string[] = [];
  for (const b of blocks) {
    const m = /^((?:\d+:)?\d{2}:\d{2}\.\d{3}) --> ((?:\d+:)?\d{2}:\d{2}\.\d{3})(.*)$/m.exec(b);
    if (!m) {
      out.push(b);
      continue;
    }
    const start = parse(m[1]!) + seconds;
    const end = parse(m[2]!) + seconds;
    if (end <= 0) continue;
    out.push(b.replace(m[0], `${formatVttTime(Math.max(0, start))} --> ${formatVttTime(end)}${m[3]}`));
  }
  return out.join('\n\n');
}
