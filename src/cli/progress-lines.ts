// The one-line text of a progress snapshot ("45.0%  120 fps  2.40x  ETA 0:12"), shared by the
// plain-line output and the TUI.
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
