// What a video engineer checks on a joined file: SSIM against a reference with frames paired by
// number, Matroska top-level layout (Cues before Clusters), where a seek lands, A/V offset, and
// a chunked encode run in-process (the worker's own code path, no daemon).
import { execFileSync, spawnSync } from 'node:child_process';
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { FFPROBE } from './media.js';
import { pairedRun } from './psnr.js';
import { FsStorage } from '../../src/adapters/local/fs-storage.js';
import { locateFfmpeg } from '../../src/ffmpeg/locate.js';
import { planChunks } from '../../src/chunked/plan.js';
import { probeTimeline } from '../../src/chunked/probe-frames.js';
import { detectScenes } from '../../src/chunked/scenes.js';
import { chunkedTasks } from '../../src/chunked/tasks.js';
import { standaloneContext } from '../../src/worker/task-context.js';
import { runTask } from '../../src/worker/runners.js';
import { storePlannedObjects } from '../../src/tasks/plan-objects.js';
import { MESSAGE_VERSION, receivedTask, type ReceivedTask } from '../../src/messages.js';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';

/** Mean and lowest per-frame SSIM of a against b, frames paired by number (WebM's 1 ms timestamps mispair them otherwise). */
export function ssim(a: string, b: string): { all: number; min: number; frames: number } {
  const r = pairedRun(a, b, 'ssim=stats_file=-');
  const per = [...r.stdout.matchAll(/All:([0-9.]+)/g)].map((m) => Number(m[1]));
  const all = Number(
    /All:([0-9.]+)/.exec(
      r.stderr
        .split('\n')
        .filter((l) => l.includes('SSIM'))
        .pop() ?? '',
    )?.[1],
  );
  return { all, min: Math.min(...per), frames: per.length };
}

function vint(buf: Buffer, at: number, keepMarker: boolean): { value: number; len: number } {
  const first = buf[at]!;
  let len = 1;
  while (len <= 8 && !(first & (0x80 >> (len - 1)))) len++;
  let value = keepMarker ? first : first & (0xff >> len);
  for (let i = 1; i < len; i++) value = value * 256 + buf[at + i]!;
  return { value, len };
}

/** Top-level element ids inside the Segment, in file order ('Cues', 'Cluster', ...). */
export function segmentLayout(path: string): string[] {
  const NAMES: Record<number, string> = {
    290298740: 'SeekHead',
    357149030: 'Info',
    374648427: 'Tracks',
    475249515: 'Cues',
    524531317: 'Cluster',
    307544935: 'Tags',
    236: 'Void',
    423732329: 'Attachments',
    272869232: 'Chapters',
  };
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  const read = (at: number, n: number) => {
    const b = Buffer.alloc(n);
    readSync(fd, b, 0, n, at);
    return b;
  };
  const out: string[] = [];
  try {
    let at = 0;
    const head = read(0, 16);
    const hid = vint(head, 0, true);
    const hsz = vint(head, hid.len, false);
    at = hid.len + hsz.len + hsz.value;
    const seg = read(at, 16);
    const sid = vint(seg, 0, true);
    const ssz = vint(seg, sid.len, false);
    at += sid.len + ssz.len;
    while (at < size - 2) {
      const b = read(at, 16);
      const id = vint(b, 0, true);
      const sz = vint(b, id.len, false);
      out.push(NAMES[id.value] ?? `0x${id.value.toString(16)}`);
      at += id.len + sz.len + sz.value;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** The first video packet ffprobe reads after seeking to t (seconds): where a player lands. */
export function seekLanding(path: string, t: number): { pts: number; key: boolean } {
  const out = execFileSync(
    FFPROBE,
    [
      '-v',
      'error',
      '-read_intervals',
      `${t}%+#1`,
      '-select_streams',
      'v:0',
      '-show_entries',
      'packet=pts_time,flags',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8' },
  );
  const [pts, flags] = out.trim().split('\n')[0]!.split(',');
  return { pts: Number(pts), key: (flags ?? '').includes('K') };
}

export function videoKeyframes(path: string): number[] {
  const out = execFileSync(
    FFPROBE,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', path],
    { encoding: 'utf8' },
  );
  return out
    .trim()
    .split('\n')
    .map((l) => l.split(','))
    .filter(([, f]) => (f ?? '').includes('K'))
    .map(([p]) => Number(p));
}

export interface Timing {
  video: number;
  audio: number | null;
  frames: number;
  duration: number;
}

const TIMING_ARGS = [
  ...['-v', 'error', '-count_packets', '-print_format', 'json'],
  ...['-show_entries', 'stream=codec_type,start_time,nb_read_packets:format=duration'],
];

/** Stream start times (s) and counted video frames, format duration. */
export function timing(path: string): Timing {
  return parseTiming(execFileSync(FFPROBE, [...TIMING_ARGS, path], { encoding: 'utf8' }));
}

/**
 * timing() and a whole decode in one ffprobe (-count_frames decodes every frame of every stream):
 * `clean` when it wrote no error line, as decodesCleanly's separate ffmpeg run would tell (a
 * truncated webm or an ogg page failing its CRC is flagged by both: presets-encode.test.ts).
 */
export function decodedTiming(path: string): Timing & { clean: boolean; errors: string } {
  const r = spawnSync(FFPROBE, [...TIMING_ARGS, '-count_frames', path], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`ffprobe ${path} failed: ${r.stderr}`);
  return { ...parseTiming(r.stdout), clean: r.stderr.trim() === '', errors: r.stderr };
}

function parseTiming(json: string): Timing {
  const j = JSON.parse(json) as {
    streams: Array<{ codec_type: string; start_time: string; nb_read_packets: string }>;
    format: { duration: string };
  };
  const v = j.streams.find((s) => s.codec_type === 'video')!;
  const a = j.streams.find((s) => s.codec_type === 'audio');
  return {
    video: Number(v.start_time),
    audio: a ? Number(a.start_time) : null,
    frames: Number(v.nb_read_packets),
    duration: Number(j.format.duration),
  };
}

/** Time of the first decoded video frame of a source (AVI start offsets are only visible decoded). */
export function firstFrameTime(path: string): number {
  const out = execFileSync(
    FFPROBE,
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-read_intervals',
      '%+#10',
      '-show_entries',
      'frame=best_effort_timestamp_time',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8' },
  );
  return Math.min(...out.trim().split('\n').map(Number).filter(Number.isFinite));
}

export interface ChunkedRun {
  plan: ReturnType<typeof planChunks>;
  tasks: ReturnType<typeof chunkedTasks>;
  scratch: string;
  message: (key: string) => ReceivedTask;
  /** Run one task the way a worker does. */
  run: (key: string) => ReturnType<typeof runTask>;
}

/** Plan a chunked job for `input` -> `output` and give a way to run its tasks in-process. */
export async function chunkedRun(
  input: string,
  output: string,
  preset: Record<string, unknown> & { name: string },
  dir: string,
  opts: { chunkSeconds: number; workers: number; scenes?: { minChunkSeconds: number; maxChunkSeconds: number } },
): Promise<ChunkedRun> {
  const ff = locateFfmpeg();
  const src = await probeTimeline(ff.ffprobe, input);
  // With scenes: cut at the cuts scene detection finds, as feederd's planner does.
  const cuts = opts.scenes ? (await detectScenes(ff.ffprobe, input, src.timeline)).cuts : [];
  const plan = planChunks(src.timeline, {
    ...opts,
    scenes: opts.scenes ? { ...opts.scenes, cuts: cuts.map((c) => c.frame) } : undefined,
  });
  const scratch = `${join(dir, 'chunks', 'job')}/`;
  const tasks = chunkedTasks(plan, { scratch, audio: src.hasAudio });
  const storage = new FsStorage();
  // As feederd's planner does: the lists its tasks read by reference, stored first.
  await storePlannedObjects(storage, tasks);
  // Parsed as a worker parses what it leases (the preset checked once, there).
  const message = (key: string): ReceivedTask => {
    const t = tasks.find((x) => x.key === key)!;
    return receivedTask().parse({
      v: MESSAGE_VERSION,
      kind: 'task',
      jobId: 'j_test',
      taskId: `j_test.${key}`,
      attempt: 1,
      type: t.type,
      input,
      outputs: [{ preset, uri: output }],
      force: true,
      params: t.params,
    });
  };
  const run = (key: string) => {
    const work = mkdtempSync(join(dir, 'work-'));
    mkdirSync(work, { recursive: true });
    return runTask(standaloneContext({ task: message(key), storage, ffmpeg: ff, scratch: work }));
  };
  return { plan, tasks, scratch, message, run };
}

/** Run all non-assemble tasks, `parallel` at a time, then assemble; returns the assemble result. */
export async function runAll(r: ChunkedRun, parallel: number): Promise<Awaited<ReturnType<typeof runTask>>> {
  const keys = r.tasks.filter((t) => t.type !== 'assemble').map((t) => t.key);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < keys.length) await r.run(keys[next++]!);
    }),
  );
  const done = await r.run('assemble');
  await done.cleanup?.();
  return done;
}
