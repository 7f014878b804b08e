// The words and numbers a progress view shows of a job, as text: shared by the Ink view and the
// plain-line fallback so both say the same facts the same way.
import { basename, join } from 'node:path';
import { formatBytes, formatDuration, hdrText, printable, qualityText, stateLabel } from '../api/format.js';
import { progressText } from '../cli/progress-lines.js';
import { elapsedSeconds, fleetCounts, isFinal, type JobView, type SummaryView } from './model.js';

export { qualityText, stateLabel };

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A progress bar of `width` cells: full blocks, one partial block, light shade for the rest. */
export function bar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = EIGHTHS[eighths % 8]!;
  return '█'.repeat(full) + part + '░'.repeat(width - full - (part ? 1 : 0));
}

/** Whole percent, rounded down so 100% means done. */
export function percent(fraction: number): string {
  return `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/** fps, speed, elapsed and ETA of a running job; empty strings for what is unknown. */
export function rates(j: JobView, now: number): { fps: string; speed: string; elapsed: string; eta: string } {
  const running = j.state === 'running';
  const elapsed = elapsedSeconds(j, now);
  return {
    fps: running && j.fps !== null ? `${Math.round(j.fps)} fps` : '',
    speed: running && j.speed !== null ? `${j.speed.toFixed(1)}x` : '',
    elapsed: elapsed === undefined ? '' : formatDuration(elapsed),
    eta: running ? `ETA ${formatDuration(j.eta ?? undefined)}` : '',
  };
}

/** How the job's input reads in a narrow column: its file name. */
export function inputName(j: JobView): string {
  return printable(basename(j.input.replace(/[?#].*$/, '')) || j.input);
}

export function outputText(o: JobView['outputs'][number]): string {
  const q = o.quality ? qualityText(o.quality) : '';
  return `${printable(o.uri)}  (${o.preset}${o.bytes !== undefined ? `, ${formatBytes(o.bytes)}` : ''})${q ? `  ${q}` : ''}`;
}

/** An adaptive-streaming package's lines: its manifests, then a line per rendition (and audio,
 * subtitles). Empty for any other output. */
export function packageLines(o: JobView['outputs'][number]): string[] {
  const p = o.package;
  if (!p) return [];
  const at = (f: string) => (o.uri.startsWith('s3://') ? `${o.uri.replace(/\/+$/, '')}/${f}` : join(o.uri, f));
  return [
    `DASH ${at(p.dash)}`,
    `HLS  ${at(p.hls)}`,
    ...p.renditions.map(
      (r) =>
        `${`${r.rung}p`.padEnd(6)} ${`${r.width}x${r.height}`.padEnd(10)} ${`${r.kbps} kb/s`.padEnd(11)} ${r.codec}  ${formatBytes(r.bytes)}`,
    ),
    ...(p.hdr ? [`HDR    ${hdrText(p.hdr)}`] : []),
    ...(p.audio
      ? [`audio  ${p.audio.codec} ${p.audio.channels} ch, ${p.audio.kbps} kb/s`]
      : ['audio  none (the source has none)']),
    ...(p.subtitles.length ? [`subtitles  ${p.subtitles.map((t) => `${t.language} (${t.file})`).join(', ')}`] : []),
    ...(p.thumbnails ? [`thumbnails ${p.thumbnails}${p.poster ? `, poster ${p.poster}` : ''}`] : []),
  ];
}

export function errorText(j: JobView): string {
  return j.error ? `${j.error.code}: ${printable(j.error.message.split('\n')[0]!)}` : '';
}

export function fleetText(s: SummaryView): string {
  const f = fleetCounts(s);
  const q = s.queue.waiting < 0 ? 'queue: unknown' : `queue: ${s.queue.waiting} waiting, ${s.queue.inFlight} in flight`;
  return `${q}   workers: ${f.busy} busy, ${f.idle} idle, ${f.booting} booting`;
}

// --- plain lines (pipes, CI, TERM=dumb) ---

/** `j_…  running (encoding) on w1` — printed once per change of state, phase or worker. */
export function plainStateLine(j: JobView): string {
  const phase = j.state === 'running' && j.phase ? ` (${j.phase})` : '';
  const on = j.worker && j.state === 'running' ? ` on ${j.worker}` : '';
  const err = j.state !== 'succeeded' && j.error && isFinal(j) ? `: ${errorText(j)}` : '';
  return `${j.id}  ${j.state}${phase}${on}${err}`;
}

/** `j_…   42.0%  120 fps  2.40x  ETA 0:06` — at most every few seconds while encoding. */
export function plainProgressLine(j: JobView): string {
  return `${j.id} ${progressText({ fraction: j.progress, fps: j.fps ?? undefined, speed: j.speed ?? undefined, etaSeconds: j.eta ?? undefined })}`;
}
