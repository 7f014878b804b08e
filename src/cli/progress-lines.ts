// Plain progress for commands that follow work without the TUI: on a terminal one line that
// rewrites itself; otherwise (pipes, CI) a line per state change and progress at most every few
// seconds, with no escape codes.
import type { Progress } from '../jobs/types.js';
import { formatDuration } from './output.js';

export function progressText(p: Progress): string {
  const pct = `${(p.fraction * 100).toFixed(1).padStart(5)}%`;
  const parts = [pct];
  if (p.fps !== undefined) parts.push(`${p.fps.toFixed(0)} fps`);
  if (p.speed !== undefined) parts.push(`${p.speed.toFixed(2)}x`);
  parts.push(`ETA ${formatDuration(p.etaSeconds)}`);
  return parts.join('  ');
}

export class ProgressLines {
  private last = 0;
  private dirty = false;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly intervalMs = stream.isTTY && process.env.TERM !== 'dumb' ? 200 : 5000,
    private readonly now: () => number = Date.now,
  ) {}

  private get tty(): boolean { return Boolean(this.stream.isTTY) && process.env.TERM !== 'dumb'; }

  progress(label: string, p: Progress): void {
    const t = this.now();
    if (t - this.last < this.intervalMs && p.fraction < 1) return;
    this.last = t;
    if (this.tty) { this.stream.write(`\r\x1b[2K${label} ${progressText(p)}`); this.dirty = true; }
    else this.stream.write(`${label} ${progressText(p)}\n`);
  }

  line(text: string): void {
    if (this.dirty) { this.stream.write('\r\x1b[2K'); this.dirty = false; }
    this.stream.write(text + '\n');
  }
}
