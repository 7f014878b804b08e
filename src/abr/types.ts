// What a package's record says (job.outputs[i].package): read by status, the API and webhooks.
// Part of the job record, so defined with it (jobs/outputs.ts).
export { type PackageInfo, packageInfo, packageOfResult, type RenditionInfo, renditionInfo } from '../jobs/outputs.js';
