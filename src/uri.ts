// What a job's input or output string names: a plain path, a file:// URL, an http(s):// URL or an
// s3://bucket/key object. The one home of these tests; adapters, the API, the CLI, encoding and
// the worker all ask here, so no module imports an adapter just to read a URI.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NommerError } from './errors.js';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** True when the string starts with a URI scheme (`s3://`, `https://`, `file://`, …). */
export function hasScheme(s: string): boolean {
  return SCHEME.test(s);
}

/** The scheme in lower case (`s3`, `https`, `file`), or null for a plain path. */
export function schemeOf(s: string): string | null {
  return hasScheme(s) ? s.slice(0, s.indexOf(':')).toLowerCase() : null;
}

/** A plain path or a file:// URL. */
export function isLocalUri(uri: string): boolean {
  return uri.startsWith('file://') || !hasScheme(uri);
}

export function isHttpUri(uri: string): boolean {
  return /^https?:\/\//i.test(uri);
}

export function isS3Uri(uri: string): boolean {
  return /^s3:\/\//i.test(uri);
}

/**
 * The path of a plain path or a file:// URI. A file URL naming another host (file://host/x) or
 * with an encoded slash is not a local file: USAGE, not an internal error.
 */
export function localPathOf(uri: string): string {
  if (!uri.startsWith('file://')) return uri;
  try {
    return fileURLToPath(uri);
  } catch (err) {
    throw new NommerError('USAGE', `not a local file URL: ${uri} (${(err as Error).message})`, {
      hint: 'write file:///absolute/path, or the plain path',
    });
  }
}

/** A URI as given, or a plain path made absolute against the working directory. */
export function absoluteUri(s: string): string {
  return hasScheme(s) ? s : resolve(s);
}
