// Port: an object store's own word that objects were created under a prefix (aws: the bucket's
// event notifications, delivered to an SQS ingest queue). The store and the queue do the watching;
// nothing lists the bucket. Delivery is at-least-once and a message may name an object that has
// since been replaced or removed: the consumer asks `identify` what the object is now, and acks a
// message only once it has acted on every object in it (else it comes back after its timeout).

/** One object a created-event names. */
export interface ObjectCreated {
  /** The route it came by (subscribe's `routeId`); an event of no route of ours has another. */
  routeId: string;
  bucket: string;
  /** The key, decoded. */
  key: string;
  size: number | null;
  /** Its entity tag, without quotes, when the event carries one. */
  etag: string | null;
  /** Its version, when the bucket is versioned and the event says it. */
  versionId: string | null;
}

export interface BucketEventDelivery {
  /** The objects created; empty for a test event or a message that is not a created-event. */
  readonly objects: readonly ObjectCreated[];
  /** Why there are none, for the log (`s3:TestEvent`, `not an S3 event`). */
  readonly note?: string;
  /** Done with it: remove it for good. Not called: it is delivered again after its timeout. */
  ack(): Promise<void>;
}

/** What the store says an object is now. */
export interface ObjectIdentity {
  /** Its current version (versioned buckets), else null. */
  versionId: string | null;
  etag: string;
  size: number;
}

export interface BucketEvents {
  /** Send created-events of keys under `prefix` of `bucket` to the ingest queue as `routeId`.
   * Idempotent: 'exists' when the route was there already, 'added' when it was (re)made. */
  subscribe(routeId: string, bucket: string, prefix: string): Promise<'exists' | 'added'>;
  /** Take the route away; nothing when it is not there. */
  unsubscribe(routeId: string, bucket: string): Promise<void>;
  /** Up to 10 messages; empty when none came within `waitSeconds` or `signal` aborted. */
  receive(waitSeconds: number, signal?: AbortSignal): Promise<BucketEventDelivery[]>;
  /** The object as it is now, or null when it is gone. */
  identify(bucket: string, key: string): Promise<ObjectIdentity | null>;
}
