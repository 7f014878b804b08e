// A job's cost next to what hosted transcoders would have charged for the same output minutes:
// each output minute at the reference's SD or HD list price by the output's height (720 lines
// and up is HD; audio-only minutes count as SD, an upper bound, since MediaConvert and others
// bill audio-only output lower). The reference prices come from config (cost.referencePrices,
// defaults in fleet/prices.ts), each with its source and the date it was recorded.
import type { ReferencePrice } from '../fleet/prices.js';

export interface CostComparison {
  /** The job's own $ per output minute. */
  perOutputMinute: number;
  outputMinutes: number;
  hdOutputMinutes: number;
  references: Array<{
    name: string;
    source: string;
    recorded: string;
    /** Their $ per output minute for this job's mix of SD and HD minutes. */
    perOutputMinute: number;
    /** What they would have charged for this job's outputs. */
    usd: number;
    /** The job's cost as a fraction of theirs (0.1: a tenth). */
    ratio: number | null;
  }>;
}

export function compareCost(
  cost: { usd: number | null; outputMinutes?: number | null; hdOutputMinutes?: number | null },
  references: readonly ReferencePrice[],
): CostComparison | null {
  const minutes = cost.outputMinutes ?? null;
  if (cost.usd === null || minutes === null || minutes <= 0) return null;
  const hd = Math.min(minutes, cost.hdOutputMinutes ?? 0);
  const sd = minutes - hd;
  return {
    perOutputMinute: cost.usd / minutes,
    outputMinutes: minutes,
    hdOutputMinutes: hd,
    references: references.map((r) => {
      const usd = sd * r.sd + hd * r.hd;
      return {
        name: r.name,
        source: r.source,
        recorded: r.recorded,
        perOutputMinute: usd / minutes,
        usd,
        ratio: usd > 0 ? cost.usd! / usd : null,
      };
    }),
  };
}

/** `$0.0012` with enough digits for a fraction of a cent. */
export function dollars(usd: number): string {
  if (usd === 0) return '$0';
  if (usd >= 1) return `$${usd.toFixed(2)}`;
  if (usd >= 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toPrecision(3)}`;
}

/** The lines `nommer status ID` prints under the job's cost. */
export function comparisonLines(c: CostComparison): string[] {
  const kind =
    c.hdOutputMinutes === 0
      ? 'SD'
      : c.hdOutputMinutes === c.outputMinutes
        ? 'HD'
        : `${c.hdOutputMinutes.toFixed(2)} min HD`;
  const lines = [
    `per min   ${dollars(c.perOutputMinute)}/output min over ${c.outputMinutes.toFixed(2)} min of output (${kind})`,
  ];
  const w = Math.max(...c.references.map((r) => r.name.length));
  for (const r of c.references)
    lines.push(
      `  vs ${r.name.padEnd(w)}  ${dollars(r.perOutputMinute)}/min = ${dollars(r.usd)}${r.ratio === null ? '' : `  (this job: ${pct(r.ratio)} of it)`}  [${r.source}, ${r.recorded}]`,
    );
  return lines;
}

function pct(x: number): string {
  const p = x * 100;
  return `${p < 1 ? p.toPrecision(2) : p < 10 ? p.toFixed(1) : p.toFixed(0)}%`;
}
