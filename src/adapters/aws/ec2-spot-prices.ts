// Spot prices from EC2's DescribeSpotPriceHistory (Linux/UNIX), behind the SpotPrices port: the
// SDK call, its paging and its error wrapping stay here; fleet/spot-prices.ts keeps the policy
// (newest quote per zone, the dearest zone, refresh in the background).
import {
  DescribeSpotPriceHistoryCommand,
  type EC2Client,
  type SpotPrice,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import type { SpotPrices, SpotQuote } from '../../ports/fleet.js';
import { awsCall } from './errors.js';

/** The quotes of a DescribeSpotPriceHistory answer; rows without a price, type or zone are skipped. */
export function spotQuotesOf(rows: readonly SpotPrice[]): SpotQuote[] {
  const quotes: SpotQuote[] = [];
  for (const r of rows) {
    const usd = Number(r.SpotPrice);
    if (!r.InstanceType || !r.AvailabilityZone || !Number.isFinite(usd) || usd < 0) continue;
    const at = r.Timestamp instanceof Date ? r.Timestamp.toISOString() : new Date(r.Timestamp ?? 0).toISOString();
    quotes.push({ type: r.InstanceType, az: r.AvailabilityZone, usd, at });
  }
  return quotes;
}

export class Ec2SpotPrices implements SpotPrices {
  constructor(private readonly client: Pick<EC2Client, 'send'>) {}

  /** One DescribeSpotPriceHistory for every type, all pages (StartTime now: the price in force for each zone). */
  async spotQuotes(types: readonly string[], now: number): Promise<SpotQuote[]> {
    const rows: SpotPrice[] = [];
    let token: string | undefined;
    do {
      const r = await awsCall(
        { service: 'ec2', operation: 'DescribeSpotPriceHistory', resource: types.join(',') },
        () =>
          this.client.send(
            new DescribeSpotPriceHistoryCommand({
              InstanceTypes: types as _InstanceType[],
              ProductDescriptions: ['Linux/UNIX'],
              StartTime: new Date(now),
              NextToken: token,
            }),
          ),
      );
      rows.push(...(r.SpotPriceHistory ?? []));
      token = r.NextToken || undefined;
    } while (token);
    return spotQuotesOf(rows);
  }
}
