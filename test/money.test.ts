// Money is one module (cost/money.ts): the live fleet estimate (`nommer fleet`, /v1/summary), the
// instance ledger's bills and their split over jobs, and the spend all bill an instance the same
// way (started seconds, 60 s minimum, whole nanodollars) at the same price (the ledger's lookup:
// aws.ec2.prices, the built-in table, the spot book), so the estimate of a live instance is the
// bill the ledger will settle.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { bill, billedSeconds, NANO, nanoUsdOfMs, nanoUsdOfSeconds, splitExactly } from '../src/cost/money.js';
import { spendSummary } from '../src/cost/spend.js';
import { attributeCosts } from '../src/fleet/attribution.js';
import { fleetCost } from '../src/fleet/cost.js';
import { BUILT_IN_EC2_PRICES } from '../src/fleet/prices.js';
import { ledgerPrice, SpotPriceBook, spotAwarePrice } from '../src/fleet/spot-prices.js';
import { summarizeFleet } from '../src/orchestrator/fleet-summary.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { InstanceLedger } from '../src/orchestrator/store/instance-ledger.js';
import type { WorkerNode } from '../src/ports/fleet.js';
import { tempDir } from './helpers/media.js';

const d = tempDir('nommer-money-');
after(() => d.cleanup());

const T = Date.UTC(2027, 2, 15, 12);
const node = (over: Partial<WorkerNode> = {}): WorkerNode => ({
  id: 'i-1',
  state: 'running',
  launchedAt: T,
  kind: 'ec2',
  instanceType: 'c7a.large',
  spot: false,
  ...over,
});
const config = (prices: Record<string, number> = {}) => ({
  aws: { ec2: { spot: true, instanceTypes: ['c7a.large'], prices, slotsPerInstance: 1 } },
});

test('a started second counts, in the live estimate as in the bill the ledger settles (90.5 s at $3.60/h is 91 s)', () => {
  const now = T + 90_500;
  const live = fleetCost([node()], { 'c7a.large': 3.6 }, now);
  const settled = attributeCosts([{ id: 'i-1', launchedAt: T, endedAt: now, pricePerHour: 3.6 }], []);
  assert.equal(settled.instances[0]!.billedSeconds, 91);
  assert.equal(settled.totalNanoUsd, 91_000_000);
  assert.equal(live.totalUsd, settled.totalNanoUsd / NANO);
  assert.equal(live.instances[0]!.costUsd, 0.091);
  // The 60 s minimum, and the one rounding: to the nearest nanodollar, once.
  assert.equal(billedSeconds({ launchedAt: T, endedAt: T + 1 }), 60);
  assert.deepEqual(bill({ launchedAt: T }, T + 3600_000, 0.10264), { billedSeconds: 3600, nanoUsd: 102_640_000 });
  assert.equal(nanoUsdOfSeconds(1, 1e-9 * 3600 * 0.5), 1, 'half a nanodollar rounds up');
  assert.equal(nanoUsdOfMs(1000.4, 3.6), 1_000_000, 'whole milliseconds of slot time');
  assert.deepEqual(splitExactly(10, [1, 1, 1]), [4, 3, 3]);
});

test("`nommer fleet`'s estimate prices a type from the built-in table, as the ledger does, and spot at most on demand", () => {
  const now = T + 3600_000;
  const listed = BUILT_IN_EC2_PRICES.prices['c7a.large']!;
  const priceOf = spotAwarePrice(config(), undefined);
  const f = fleetCost(
    [node(), node({ id: 'i-2', spot: true }), node({ id: 'i-3', instanceType: 'x9.huge' })],
    priceOf,
    now,
  );
  assert.deepEqual(f.unpriced, ['x9.huge']);
  assert.equal(f.instances[0]!.costUsd, listed);
  assert.equal(f.instances[1]!.costUsd, listed);
  assert.equal(f.totalUsd, (2 * Math.round(listed * NANO)) / NANO);
  assert.equal(f.upperBound, true);
  // aws.ec2.prices wins over the table.
  assert.equal(fleetCost([node()], spotAwarePrice(config({ 'c7a.large': 0.2 }), undefined), now).totalUsd, 0.2);
});

test("/v1/summary prices spot at feederd's spot book, and the spend's live bill is that same estimate", async () => {
  const at = new Date(T).toISOString();
  const book = new SpotPriceBook(
    {
      spotQuotes: async () => [
        { type: 'c7a.large', az: 'us-east-1a', usd: 0.03, at },
        { type: 'c7a.large', az: 'us-east-1b', usd: 0.036, at },
      ],
    },
    ['c7a.large'],
    { now: () => T },
  );
  await book.refresh();
  const priceOf = spotAwarePrice(config(), book);
  const spot = node({ spot: true });
  assert.equal(ledgerPrice(spot, {}, book)!.usd, 0.036, 'the dearest zone');
  const now = T + 3600_000 + 400;
  const summary = summarizeFleet([spot], new Map(), priceOf, now);
  // 3601 started seconds at $0.036/h.
  assert.equal(summary.spend!.usd, Math.round((3601 * 0.036 * 1e9) / 3600) / NANO);
  assert.equal(summary.spend!.upperBound, true);
  const store = openStore(join(d.path, 'store.db'));
  try {
    new InstanceLedger(store.db, priceOf).launched([spot], T);
    const spend = spendSummary(store.db, now);
    assert.equal(spend.today.instances.live, 1);
    assert.equal(
      spend.today.instances.usd,
      summary.spend!.usd,
      'the spend bills the live instance as the estimate does',
    );
  } finally {
    store.close();
  }
});
