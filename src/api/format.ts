// How a job's numbers read, in the CLI, the TUI and the dashboard alike: sizes, durations, money,
// quality and a job's state. The dashboard's page loads the compiled module as it is
// (GET /assets/format.js, dashboard-routes.ts), so this file imports nothing at run time: only
// types, which the build removes.
import type { OutputHdr } from '../ffmpeg/types.js';
import type { OutputLoudness } from '../jobs/outputs.js';
import type { OutputQuality } from '../quality/types.js';
import type { PublicJob } from './contract.js';

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text for a terminal: control characters shown as escapes (`\u001b`, `\n`). What a job's lines
 * show came from users (a file name, a URL, an error quoting them), and an escape sequence in it
 * must not drive the terminal, nor a newline split a line. `keepNewlines` for text that is several
 * lines on purpose (a config error lists its problems below it).
 */
export function printable(s: string, opts: { keepNewlines?: boolean } = {}): string {
  return s.replace(CONTROL, (c) =>
    opts.keepNewlines && c === '\n' ? c : (NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
}

/** `812 B`, `1.5 KiB`, `240 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** `0:42`, `12:05`, `1:02:03`; `--:--` when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    r = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

/** `$0.0123`; below a cent to six places (`$0.000412`), so a short job's cost does not read as 0. */
export function formatUsd(usd: number): string {
  return `$${usd < 0.01 ? usd.toFixed(6) : usd.toFixed(4)}`;
}

/**
 * `SSIM 0.9803 (p5 0.9512) · PSNR 38.21 dB (p5 33.10) · crf 44 for ssim=0.98`: each mean with the
 * 5th percentile of the frames where the record has it; a missed target, and a gate the output
 * fell under (kept, flagged), say so.
 */
export function qualityText(q: OutputQuality): string {
  const parts: string[] = [];
  const num = (x: number | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
  const p5 = (x: number | undefined, digits: number) => (num(x) ? ` (p5 ${x.toFixed(digits)})` : '');
  if (num(q.ssim)) parts.push(`SSIM ${q.ssim.toFixed(4)}${p5(q.pooled?.ssim.p5, 4)}`);
  if (num(q.psnr)) {
    // The encoder's record spreads each frame's luma PSNR (pooledLuma), not the all-plane one.
    const lumaP5 = q.pooledLuma?.psnrY.p5;
    const spread = q.pooled ? p5(q.pooled.psnr.p5, 2) : num(lumaP5) ? ` (luma p5 ${lumaP5.toFixed(2)})` : '';
    parts.push(`PSNR ${q.psnr.toFixed(2)} dB${spread}${q.source === 'encoder' ? ', by the encoder' : ''}`);
  }
  if (num(q.vmaf)) parts.push(`VMAF ${q.vmaf.toFixed(1)}`);
  const s = q.search;
  if (s?.target) {
    const how = 'chunks' in s ? `per-chunk CRF (${s.chunks.length} chunks)` : `crf ${s.crf}`;
    const note = 'note' in s && s.note ? `: ${s.note}` : '';
    parts.push(`${how} for ${s.target}${s.reached === false ? ` — MISSED${note}` : ''}`);
  }
  if (q.hdr) parts.push(hdrText(q.hdr));
  for (const g of q.gates ?? []) if (g.result === 'flagged') parts.push(`FLAGGED ${g.figure} ${g.value} < ${g.min}`);
  return parts.join(' · ');
}

/** What an output kept of its source's HDR, in a few words for `status`: "HDR10 kept (10-bit PQ,
 * mastering display, content light)", "HLG kept (10-bit)", "HDR10 tone-mapped to SDR". */
export function hdrText(hdr: OutputHdr): string {
  const name = hdr.source === 'pq' ? 'HDR10' : 'HLG';
  const lost = hdr.notCarried?.length ? `; ${hdr.notCarried.join(' and ')} not carried` : '';
  if (hdr.mode === 'tonemapped') return `${name} tone-mapped to 8-bit SDR${lost}`;
  const what = [
    `${hdr.bitDepth}-bit ${hdr.transfer.toUpperCase()}`,
    ...(hdr.masteringDisplay ? ['mastering display'] : []),
    ...(hdr.contentLight ? ['content light'] : []),
  ];
  return `${name} kept (${what.join(', ')})${lost}`;
}

/** `-16.0 LUFS (input -39.8) · true peak -6.9 dBTP (input -29.8) · LRA 0.0 LU (input 0.0) · gain +23.8 dB, linear`;
 * a gain that was not linear says why, and a missed target or ceiling says so. */
export function loudnessText(l: OutputLoudness): string {
  if ('skipped' in l) return `loudness not set: ${l.skipped}`;
  const f = (x: number) => x.toFixed(1);
  const i = l.input,
    o = l.output;
  return [
    `${f(o.integrated)} LUFS (input ${f(i.integrated)})`,
    `true peak ${f(o.truePeak)} dBTP (input ${f(i.truePeak)})`,
    `LRA ${f(o.lra)} LU (input ${f(i.lra)})`,
    `gain ${l.gainDb > 0 ? '+' : ''}${f(l.gainDb)} dB, ${l.linear ? 'linear' : `not linear: ${l.why ?? 'limited'}`}`,
    ...(l.missed ? [`MISSED: ${l.missed}`] : []),
  ].join(' · ');
}

/** A job's state as one short label: a running job's phase, and the attempt after the first. */
export function stateLabel(j: Pick<PublicJob, 'state' | 'phase' | 'attempt' | 'maxAttempts'>): string {
  const attempt = j.attempt > 1 ? ` (attempt ${j.attempt}/${j.maxAttempts})` : '';
  if (j.state === 'running') return `${j.phase ?? 'starting'}${attempt}`;
  return j.state === 'queued' ? `queued${attempt}` : j.state;
}
