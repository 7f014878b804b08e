// What instance a worker runs on, so feederd can price its slot time at that type's price rather
// than at the dearest type the fleet may launch: NOMMER_INSTANCE_TYPE when set (it wins), else,
// on the aws backend, EC2's instance metadata service (IMDSv2: a token from PUT /latest/api/token,
// then GET /latest/meta-data/instance-type and instance-life-cycle with it). Short timeouts: off
// EC2 nothing answers at the link-local address, and a worker must not wait on it to start.
// AWS_EC2_METADATA_DISABLED=true (as for the AWS SDK) skips IMDS. Never throws: a worker that
// cannot tell simply does not say, and its slot time is priced as an older worker's is; only a
// NOMMER_INSTANCE_TYPE that is no instance type's name is an error (the worker does not start).
import { NommerError } from '../errors.js';
import { imdsBase, imdsTimeoutMs, openImds } from './imds.js';

export interface InstanceIdentity {
  /** EC2 instance type, e.g. "c7a.large". */
  type: string;
  /** True on a spot instance, false on demand; absent when unknown (feederd then asks its ledger). */
  spot?: boolean;
  /** Where it came from, for the worker's log. */
  source: 'NOMMER_INSTANCE_TYPE' | 'IMDS';
}

/** An instance type as EC2 names them ("c7a.large", "u-6tb1.112xlarge", "mac2-m2pro.metal"). */
const TYPE = /^[a-z0-9][a-z0-9-]*\.[a-z0-9-]+$/;

export async function discoverInstance(o: {
  backend: 'local' | 'aws';
  env?: NodeJS.ProcessEnv;
  /** Per request, ms (default 1000 at the link-local address; 30 s for a NOMMER_IMDS_ENDPOINT stand-in). */
  timeoutMs?: number;
}): Promise<InstanceIdentity | undefined> {
  // (Throws only for a malformed NOMMER_INSTANCE_TYPE.)
  const env = o.env ?? process.env;
  const own = env.NOMMER_INSTANCE_TYPE?.trim();
  if (own) {
    if (!TYPE.test(own) || own.length > 64)
      throw new NommerError('CONFIG_INVALID', `NOMMER_INSTANCE_TYPE="${own}" is not an EC2 instance type`, {
        hint: 'give the type as EC2 names it, like c7a.large, or unset it to ask the instance metadata service',
      });
    return { type: own, source: 'NOMMER_INSTANCE_TYPE' };
  }
  if (o.backend !== 'aws') return undefined;
  const base = imdsBase(env);
  if (base === undefined) return undefined;
  const imds = await openImds(base, o.timeoutMs ?? imdsTimeoutMs(env));
  if (!imds) return undefined;
  try {
    const get = async (path: string): Promise<string | undefined> => {
      const r = await imds.get(path);
      return r.status === 200 ? r.body : undefined;
    };
    const type = await get('instance-type');
    if (!type || !TYPE.test(type)) return undefined;
    // "spot", "on-demand" (or "scheduled"); a failure here leaves the market unknown, not the type.
    const life = await get('instance-life-cycle').catch(() => undefined);
    return { type, source: 'IMDS', ...(life ? { spot: life === 'spot' } : {}) };
  } catch {
    return undefined;
  }
}
