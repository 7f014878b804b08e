// What a spot instance really costs: the newest price EC2's DescribeSpotPriceHistory gives for
// its type (Linux/UNIX), per availability zone. The ledger (store/instance-ledger.ts) records a
// spot instance at its type's spot price when the book has one, else at the on-demand price (an
// upper bound). A worker node does not say its zone, so the dearest zone's price is taken: still
// an upper bound, and a close one (zones differ by cents an hour).
//
// The book refreshes itself in the background when asked for a price it holds for longer than
// maxAgeMs (10 minutes by default): the first instances after a start may be priced on demand.
import type { SpotPrices, SpotQuote, WorkerNode } from '../ports/fleet.js';
import { type InstancePrice, instancePrice } from './prices.js';

/** The newest quote per (type, zone), by type: a zone's older quotes are no longer in force. */
export function newestSpotQuotes(quotes: readonly SpotQuote[]): Map<string, SpotQuote[]> {
  const best = new Map<string, SpotQuote>(); // `${type} ${az}`
  for (const q of quotes) {
    const key = `${q.type} ${q.az}`;
    const had = best.get(key);
    if (!had || had.at < q.at) best.set(key, q);
  }
  const byType = new Map<string, SpotQuote[]>();
  for (const q of best.values()) byType.set(q.type, [...(byType.get(q.type) ?? []), q]);
  return byType;
}

export interface SpotBookLog {
  warn(obj: object, msg: string): void;
}

export class SpotPriceBook {
  private quotes = new Map<string, SpotQuote[]>();
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private pending?: Promise<void>;

  constructor(
    private readonly source: SpotPrices,
    private readonly types: readonly string[],
    private readonly opts: { maxAgeMs?: number; now?: () => number; log?: SpotBookLog } = {},
  ) {}

  /** Every type's quotes at once (the aws adapter asks DescribeSpotPriceHistory in one call). */
  async refresh(): Promise<void> {
    const now = this.opts.now?.() ?? Date.now();
    this.quotes = newestSpotQuotes(await this.source.spotQuotes(this.types, now));
    this.fetchedAt = now;
  }

  /** The dearest zone's current spot price for `type`, or undefined when the book has none (it then refreshes, in the background). */
  price(type: string): InstancePrice | undefined {
    const now = this.opts.now?.() ?? Date.now();
    if (now - this.fetchedAt > (this.opts.maxAgeMs ?? 600_000) && !this.pending)
      this.pending = this.refresh()
        .catch((err: Error) => {
          // Not again before maxAgeMs: a denied or throttled call is not retried per instance.
          this.fetchedAt = now;
          this.opts.log?.warn(
            { err: err.message },
            'spot prices: DescribeSpotPriceHistory failed; spot priced on demand',
          );
        })
        .finally(() => {
          this.pending = undefined;
        });
    const qs = this.quotes.get(type);
    if (!qs || qs.length === 0) return undefined;
    const top = qs.reduce((a, b) => (b.usd > a.usd ? b : a));
    return {
      usd: top.usd,
      basis: `spot: DescribeSpotPriceHistory ${type} Linux/UNIX, dearest of ${qs.length} zone(s) (${top.az}, set ${top.at})`,
    };
  }

  /** Settles the refresh in flight, if any (tests, shutdown). */
  async settled(): Promise<void> {
    await this.pending;
  }
}

/** The ledger's price for a node: a spot instance at the book's spot price when known, else its on-demand price. */
export function ledgerPrice(
  node: WorkerNode,
  configured: Record<string, number>,
  book?: SpotPriceBook,
): InstancePrice | undefined {
  if (node.spot && node.instanceType && book) {
    const p = book.price(node.instanceType);
    if (p) return p;
  }
  return instancePrice(node, configured);
}

type Ec2PriceConfig = {
  aws: { ec2: { spot: boolean; instanceTypes: string[]; prices: Record<string, number>; slotsPerInstance: number } };
};

/** With aws.ec2.spot, a spot price book over aws.ec2.instanceTypes (shared by the ledger and the slot pricer). */
export function spotBookFor(config: Ec2PriceConfig, source: SpotPrices, log?: SpotBookLog): SpotPriceBook | undefined {
  const e = config.aws.ec2;
  return e.spot && e.instanceTypes.length > 0 ? new SpotPriceBook(source, e.instanceTypes, { log }) : undefined;
}

/** feederd's ledger prices: a spot instance at the book's price when it has one, else on demand. */
export function spotAwarePrice(
  config: Ec2PriceConfig,
  book: SpotPriceBook | undefined,
): (node: WorkerNode) => InstancePrice | undefined {
  return (node) => ledgerPrice(node, config.aws.ec2.prices, book);
}

/**
 * What one slot of a worker costs by the instance type it says it runs on (its status events'
 * `instance`): that type's price (spot from the book, when it is spot and the book has one; else
 * aws.ec2.prices or the built-in table) over aws.ec2.slotsPerInstance. Undefined for a type with
 * no price: its slot time keeps the job's slot price.
 */
export function workerSlotPrice(
  config: Ec2PriceConfig,
  book: SpotPriceBook | undefined,
): (instance: { type: string; spot: boolean }) => { usdPerSlotHour: number; basis: string } | undefined {
  const e = config.aws.ec2;
  return ({ type, spot }) => {
    const p = ledgerPrice(
      { id: type, state: 'running', launchedAt: 0, kind: 'ec2', instanceType: type, spot },
      e.prices,
      book,
    );
    if (!p) return undefined;
    return {
      usdPerSlotHour: p.usd / e.slotsPerInstance,
      basis: `${type} (the worker's own type)${spot ? ' spot' : ' on demand'} at $${p.usd}/h over ${e.slotsPerInstance} slot(s) (${p.basis})`,
    };
  };
}
