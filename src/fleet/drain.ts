// Scale-in by draining, as the EC2 fleet says it: a tag on the instance. feederd sets it
// (adapters/aws/ec2-fleet.ts) and may remove it again; the worker on that instance reads its own
// tags from the instance metadata service (worker/drain.ts), leases nothing new while the tag is
// there, and powers the instance off once its jobs are done. IAM lets feederd write this tag and
// no other on a running instance (adapters/aws/setup.ts), and IMDS shows tags whose keys use
// letters, digits and `+ - = . , _ : @` only.
export const DRAIN_TAG = 'nommer:drain';
