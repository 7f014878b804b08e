// `nommer encode`'s view: there is no feederd, so the one encode running in this process is shown
// as a single pseudo-job fed from encode()'s progress callback. Quitting cancels the encode —
// nothing else would run it to the end.
import { asNommerError } from '../errors.js';
import type { Progress } from '../jobs/types.js';
import { outputText } from './format.js';
import { initialState, type JobView } from './model.js';
import type { OutputQuality } from '../quality/types.js';
import type { OutputMode } from './output-mode.js';
import type { LineSink } from './plain.js';
import { openSession, type Session } from './session.js';
import { ViewStore } from './store.js';

export interface EncodeViewOptions {
  mode: OutputMode;
  input: string;
  outputs: Array<{ preset: string; uri: string }>;
  /** Stop the encode (q, Ctrl-C, SIGINT/SIGTERM, or `c` confirmed). */
  cancel: () => void;
  now?: () => number;
  stdout?: LineSink;
  stderr?: LineSink;
}

export interface EncodeView {
  /** Pass to encode() as onProgress; undefined when nothing shows progress (--json, --quiet). */
  onProgress?: (p: Progress) => void;
  /** Closes the view; in plain and quiet mode prints each output on stdout (--json: the command does). */
  succeeded(outputs: Array<{ path: string; bytes: number; quality?: OutputQuality }>): Promise<void>;
  /** Closes the view showing the error (the command then reports it as usual). */
  failed(err: unknown): Promise<void>;
}

export const ENCODE_ROW_ID = 'encode';

export async function openEncodeView(o: EncodeViewOptions): Promise<EncodeView> {
  const now = o.now ?? Date.now;
  let job: JobView = {
    id: ENCODE_ROW_ID,
    state: 'running',
    phase: null,
    progress: 0,
    fps: null,
    speed: null,
    eta: null,
    attempt: 1,
    maxAttempts: 1,
    input: o.input,
    outputs: o.outputs,
    worker: null,
    error: null,
    startedAt: new Date(now()).toISOString(),
    finishedAt: null,
  };
  const store = new ViewStore(initialState('encode'));
  const update = (patch: Partial<JobView>) => {
    job = { ...job, ...patch };
    store.dispatch({ type: 'job', job });
  };
  update({});
  const shows = o.mode === 'tui' || o.mode === 'plain';
  // With --json or --quiet nothing is drawn, but the session still turns SIGINT into a clean cancel.
  const session: Session = await openSession({
    mode: shows ? o.mode : 'quiet',
    store,
    stdout: o.stdout,
    stderr: o.stderr,
    cancel: async () => o.cancel(),
    onQuit: o.cancel,
  });
  const finish = async (patch: Partial<JobView>) => {
    update({ ...patch, finishedAt: new Date(now()).toISOString() });
    if (store.get().ended !== 'quit') store.dispatch({ type: 'done' });
    await session.close();
  };
  return {
    // After a cancel, ffmpeg's last progress block (it ends the run) says nothing about the encode.
    onProgress: shows
      ? (p) =>
          store.get().ended
            ? undefined
            : update({
                phase: 'encoding',
                progress: p.fraction,
                fps: p.fps ?? null,
                speed: p.speed ?? null,
                eta: p.etaSeconds ?? null,
              })
      : undefined,
    async succeeded(outputs) {
      await finish({
        state: 'succeeded',
        progress: 1,
        outputs: o.outputs.map((x, i) => ({
          ...x,
          uri: outputs[i]?.path ?? x.uri,
          bytes: outputs[i]?.bytes,
          ...(outputs[i]?.quality ? { quality: outputs[i]!.quality } : {}),
        })),
      });
      if (o.mode === 'plain' || o.mode === 'quiet')
        for (const x of store.get().rows[ENCODE_ROW_ID]!.job.outputs)
          (o.stdout ?? process.stdout).write(`${outputText(x)}\n`);
    },
    async failed(err) {
      const e = asNommerError(err);
      await finish({
        state: e.code === 'CANCELED' ? 'canceled' : 'failed',
        error: e.code === 'CANCELED' ? null : { code: e.code, message: e.message, retriable: e.retriable },
      });
    },
  };
}
