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
}

export interface Fleet {
  list(): Promise<WorkerNode[]>;
  launch(count: number): Promise<WorkerNode[]>;
  terminate(ids: string[]): Promise<void>;
}
