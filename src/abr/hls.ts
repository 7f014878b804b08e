// The HLS side of a package, put right after ffmpeg's dash muxer wrote it. Pure: texts and sizes in,
// texts out.
// - BANDWIDTH: ffmpeg 5.1 writes each variant's from the video stream's nominal rate alone (a
//   388 kb/s rendition with its audio was listed at 66 kb/s), while HLS defines it as the peak
//   segment bit rate of everything the variant plays: here the peak of its video segments plus the
//   peak of the audio rendition's, and AVERAGE-BANDWIDTH the same over the whole title. Players
//   pick renditions by it.
// - Media playlists get EXT-X-PLAYLIST-TYPE:VOD and lose ffmpeg's EXT-X-PROGRAM-DATE-TIME (a VOD
//   title needs no dates, and a player that sees them on video but not on subtitles warns of A/V
//   sync).

export interface SegmentRates {
  /** Highest segment bit rate, bits/s. */
  peak: number;
  /** Over every segment, bits/s. */
  average: number;
}

/** Segment files and durations of a media playlist. */
export function segmentsOf(playlist: string): Array<{ file: string; seconds: number }> {
  const out: Array<{ file: string; seconds: number }> = [];
  let pending: number | null = null;
  for (const raw of playlist.split(/\r?\n/)) {
    const line = raw.trim();
    const inf = /^#EXTINF:([0-9.]+)/.exec(line);
    if (inf) pending = Number(inf[1]);
    else if (line && !line.startsWith('#') && pending !== null) {
      out.push({ file: line, seconds: pending });
      pending = null;
    }
  }
  return out;
}

/**
 * Peak and average bit rate of a media playlist's segments. The peak is HLS's: the highest rate
 * over any run of consecutive segments lasting 0.5 to 1.5 times the target duration (a lone short
 * last segment, one keyframe in 0.04 s, is not a peak: it made BANDWIDTH five times the average).
 */
export function ratesOf(playlist: string, sizeOf: (file: string) => number): SegmentRates {
  const segs = segmentsOf(playlist).filter((s) => s.seconds > 0);
  if (segs.length === 0) return { peak: 0, average: 0 };
  const bits = segs.map((s) => sizeOf(s.file) * 8);
  const total = segs.reduce((a, s) => a + s.seconds, 0);
  const average = bits.reduce((a, b) => a + b, 0) / total;
  const target =
    Number(/^#EXT-X-TARGETDURATION:(\d+(?:\.\d+)?)/m.exec(playlist)?.[1]) || Math.max(...segs.map((s) => s.seconds));
  let peak = 0;
  for (let i = 0; i < segs.length; i++) {
    let secs = 0;
    let b = 0;
    for (let j = i; j < segs.length; j++) {
      secs += segs[j]!.seconds;
      b += bits[j]!;
      if (secs > 1.5 * target + 1e-6) break;
      if (secs >= 0.5 * target - 1e-6) peak = Math.max(peak, b / secs);
    }
  }
  // A title shorter than half a target duration has no such run: its average is its peak.
  return { peak: Math.ceil(Math.max(peak, average)), average: Math.ceil(average) };
}

/** A VOD media playlist: typed VOD, without program dates. */
export function vodPlaylist(playlist: string): string {
  let text = playlist.replace(/^#EXT-X-PROGRAM-DATE-TIME:.*\r?\n/gm, '');
  if (!/^#EXT-X-PLAYLIST-TYPE:/m.test(text))
    text = text.replace(/^(#EXT-X-VERSION:.*)$/m, '$1\n#EXT-X-PLAYLIST-TYPE:VOD');
  return text;
}

/**
 * The master playlist with each variant's BANDWIDTH (and AVERAGE-BANDWIDTH) from its segments:
 * `rates` by media playlist name (media_N.m3u8), the audio group's playlist among them.
 */
export function withBandwidths(master: string, rates: ReadonlyMap<string, SegmentRates>): string {
  const audioUri = /#EXT-X-MEDIA:TYPE=AUDIO[^\n]*URI="([^"]+)"/.exec(master)?.[1];
  const audio = audioUri ? rates.get(audioUri) : undefined;
  const lines = master.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('#EXT-X-STREAM-INF:')) continue;
    let j = i + 1;
    while (j < lines.length && (lines[j]!.trim() === '' || lines[j]!.startsWith('#'))) j++;
    const video = rates.get(lines[j]?.trim() ?? '');
    if (!video) continue;
    const peak = video.peak + (audio?.peak ?? 0);
    const average = video.average + (audio?.average ?? 0);
    lines[i] = lines[i]!.replace(/,?AVERAGE-BANDWIDTH=\d+/, '').replace(
      /BANDWIDTH=\d+/,
      `BANDWIDTH=${peak},AVERAGE-BANDWIDTH=${average}`,
    );
  }
  return lines.join('\n');
}
