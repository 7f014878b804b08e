// Port: the machines that run workers. Local: `nommer worker` child processes; aws: EC2 instances.

export type WorkerNodeState = 'booting' | 'running' | 'stopping' | 'terminated';

export interface WorkerNode {
  id: string;
  state: WorkerNodeState;
  /** ms since the epoch */
  launchedAt: number;
  kind: 'process' | 'ec2';
  instanceType?: string;
  spot?: boolean;
  /** Asked to lease nothing new: its worker finishes what it runs, then ends the node. */
  draining?: boolean;
}

export interface Fleet {
  list(): Promise<WorkerNode[]>;
  launch(count: number): Promise<WorkerNode[]>;
  terminate(ids: string[]): Promise<void>;
  /** Mark nodes to drain (true) or call them back (false); a fleet without it scales in by idle exit only. */
  drain?(ids: string[], draining: boolean): Promise<void>;
}

/** A spot price the cloud set for an instance type in one availability zone. */
export interface SpotQuote {
  type: string;
  az: string;
  /** $/hour */
  usd: number;
  /** ISO time the price was set. */
  at: string;
}

/** Port: the spot prices of some instance types (aws: EC2's DescribeSpotPriceHistory). */
export interface SpotPrices {
  /** The quotes in force at `now` (ms since the epoch), any number per type and zone. */
  spotQuotes(types: readonly string[], now: number): Promise<SpotQuote[]>;
}
