// Spot prices from EC2's DescribeSpotPriceHistory, against moto_server with the real SDK client
// (moto answers fixed data: $0.00001 in every us-east-1 zone, dated 2006-01-02), and the
// parsing on a recorded answer's shape (SDK types) with several zones and an older quote. The
// SDK call is the aws adapter's (adapters/aws/ec2-spot-prices.ts); the book only sees the port.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SpotPrice } from '@aws-sdk/client-ec2';
import { ec2Client } from '../src/adapters/aws/clients.js';
import { Ec2SpotPrices, spotQuotesOf } from '../src/adapters/aws/ec2-spot-prices.js';
import { BUILT_IN_EC2_PRICES } from '../src/fleet/prices.js';
import { ledgerPrice, newestSpotQuotes, SpotPriceBook } from '../src/fleet/spot-prices.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { InstanceLedger, listInstances } from '../src/orchestrator/store/instance-ledger.js';
import type { WorkerNode } from '../src/ports/fleet.js';
import { tempDir } from './helpers/media.js';
import { type Moto, startMoto, useFakeAwsCredentials } from './helpers/moto.js';

let moto: Moto;
const d = tempDir('nommer-spot-');
before(async () => {
  useFakeAwsCredentials();
  moto = await startMoto();
});
after(async () => {
  await moto?.stop();
  d.cleanup();
});

test('the newest quote per zone wins; the dearest zone prices a node whose zone is unknown', () => {
  // The shape DescribeSpotPriceHistory answers (SpotPrice is a string; Timestamp a Date once parsed).
  const rows: SpotPrice[] = [
    {
      AvailabilityZone: 'us-east-1a',
      InstanceType: 'c7a.large',
      SpotPrice: '0.0410',
      Timestamp: new Date('2026-12-01T10:00:00Z'),
      ProductDescription: 'Linux/UNIX',
    },
    {
      AvailabilityZone: 'us-east-1a',
      InstanceType: 'c7a.large',
      SpotPrice: '0.0520',
      Timestamp: new Date('2026-11-30T10:00:00Z'),
      ProductDescription: 'Linux/UNIX',
    },
    {
      AvailabilityZone: 'us-east-1b',
      InstanceType: 'c7a.large',
      SpotPrice: '0.0433',
      Timestamp: new Date('2026-12-01T09:00:00Z'),
      ProductDescription: 'Linux/UNIX',
    },
    {
      AvailabilityZone: 'us-east-1b',
      InstanceType: 'c7i.large',
      SpotPrice: 'n/a',
      Timestamp: new Date('2026-12-01T09:00:00Z'),
    },
  ];
  const q = newestSpotQuotes(spotQuotesOf(rows));
  assert.deepEqual(
    q
      .get('c7a.large')!
      .map((x) => [x.az, x.usd])
      .sort(),
    [
      ['us-east-1a', 0.041],
      ['us-east-1b', 0.0433],
    ],
    'the 2026-11-30 quote of 1a is older: not the price in force',
  );
  assert.equal(q.has('c7i.large'), false, 'a row without a number is skipped');
});

test('against moto: the book reads DescribeSpotPriceHistory, and the ledger records a spot instance at the spot price', async () => {
  const client = ec2Client({ region: 'us-east-1', endpoint: moto.endpoint });
  try {
    const book = new SpotPriceBook(new Ec2SpotPrices(client), ['c7a.large', 'c7i.large']);
    assert.equal(book.price('c7a.large'), undefined, 'nothing yet: the first ask starts a refresh');
    await book.settled();
    const p = book.price('c7a.large')!;
    assert.equal(p.usd, 0.00001, "moto's fixed spot price");
    assert.match(
      p.basis,
      /DescribeSpotPriceHistory c7a\.large Linux\/UNIX, dearest of \d+ zone\(s\) \(us-east-1\w, set 2006-01-02T15:04:05\.000Z\)/,
    );
    assert.ok(book.price('c7i.large'), 'every type in one call');

    const spot: WorkerNode = {
      id: 'i-s',
      state: 'running',
      launchedAt: 1_700_000_000_000,
      kind: 'ec2',
      instanceType: 'c7a.large',
      spot: true,
    };
    const onDemand: WorkerNode = { ...spot, id: 'i-o', spot: false };
    const unknownSpot: WorkerNode = { ...spot, id: 'i-u', instanceType: 'c7a.xlarge' };
    assert.equal(ledgerPrice(onDemand, {}, book)!.usd, BUILT_IN_EC2_PRICES.prices['c7a.large']);
    assert.match(
      ledgerPrice(unknownSpot, {}, book)!.basis,
      /^spot, at most the on-demand/,
      'no quote: on demand, an upper bound',
    );
    const store = openStore(join(d.path, 'store.db'));
    try {
      const ledger = new InstanceLedger(store.db, (n) => ledgerPrice(n, {}, book));
      ledger.launched([spot, onDemand], 1_700_000_000_000);
      const rows = new Map(listInstances(store.db).map((i) => [i.id, i]));
      assert.equal(rows.get('i-s')!.pricePerHour, 0.00001);
      assert.equal(rows.get('i-s')!.spot, true);
      assert.match(rows.get('i-s')!.priceBasis, /DescribeSpotPriceHistory/);
      assert.equal(rows.get('i-o')!.pricePerHour, BUILT_IN_EC2_PRICES.prices['c7a.large']);
    } finally {
      store.close();
    }
  } finally {
    client.destroy();
  }
});

test('a failing DescribeSpotPriceHistory is logged (wrapped by the adapter) and spot stays priced on demand', async () => {
  const warned: Array<{ obj: object; msg: string }> = [];
  let calls = 0;
  const book = new SpotPriceBook(
    new Ec2SpotPrices({
      send: async () => {
        calls++;
        throw Object.assign(new Error('not authorized'), { name: 'UnauthorizedOperation' });
      },
    }),
    ['c7a.large'],
    { log: { warn: (obj, msg) => warned.push({ obj, msg }) } },
  );
  assert.equal(book.price('c7a.large'), undefined);
  await book.settled();
  assert.equal(book.price('c7a.large'), undefined);
  await book.settled();
  assert.equal(calls, 1, 'a failed refresh is not retried at the next ask (only after maxAgeMs)');
  assert.deepEqual(warned, [
    {
      obj: { err: 'ec2 DescribeSpotPriceHistory c7a.large: UnauthorizedOperation: not authorized' },
      msg: 'spot prices: DescribeSpotPriceHistory failed; spot priced on demand',
    },
  ]);
});
