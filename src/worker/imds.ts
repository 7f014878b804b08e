// EC2's instance metadata service, IMDSv2: a session token from PUT /latest/api/token, then GETs
// with it. Short timeouts: off EC2 nothing answers at the link-local address, and a worker must
// not wait on it. AWS_EC2_METADATA_DISABLED=true (as for the AWS SDK) turns it off;
// NOMMER_IMDS_ENDPOINT is for tests only (a local server standing in for IMDS).

const IMDS = 'http://169.254.169.254';

/**
 * How long one request may take: short for the link-local address, where nothing answers off
 * EC2; 30 s for a stand-in, which does answer, and on a busy machine may take more than a second
 * to (a test must not depend on the machine's speed).
 */
export function imdsTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  return env.NOMMER_IMDS_ENDPOINT?.trim() ? 30_000 : 1000;
}

/** Where IMDS answers, or undefined when it is turned off. */
export function imdsBase(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AWS_EC2_METADATA_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  return (env.NOMMER_IMDS_ENDPOINT?.trim() || IMDS).replace(/\/+$/, '');
}

export interface ImdsSession {
  /** GET /latest/meta-data/<path>: status and body. Throws when IMDS does not answer. */
  get(path: string): Promise<{ status: number; body: string }>;
}

/** A session, or undefined when no token is given (not on EC2, IMDS off). Never throws. */
export async function openImds(base: string, timeoutMs = 1000): Promise<ImdsSession | undefined> {
  try {
    const tok = await fetch(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!tok.ok) return undefined;
    const token = (await tok.text()).trim();
    if (!token) return undefined;
    return {
      async get(path) {
        const r = await fetch(`${base}/latest/meta-data/${path}`, {
          headers: { 'X-aws-ec2-metadata-token': token },
          signal: AbortSignal.timeout(timeoutMs),
        });
        return { status: r.status, body: (await r.text()).trim() };
      },
    };
  } catch {
    return undefined;
  }
}
