// Secrets that ride inside URLs, taken out before a URL leaves the process in a payload (webhooks;
// the API's publicJob should do the same): userinfo (`user:pass@`) is removed from any URL, and the
// whole query (and fragment) of a URL whose query or fragment carries a credential-like
// parameter (a presigned S3/GCS/Azure/CloudFront URL, `?token=`, `?sig=`, …) is replaced by a marker. Plain
// paths and URLs without secrets come back unchanged.

/** What replaces a query string (or fragment) that carried a credential. */
export const REDACTED_QUERY = 'redacted';

// Parameter names compared lower-cased with '-', '_' and '.' removed (X-Amz-Signature → xamzsignature).
const CREDENTIAL_NAMES = new Set([
  'sig',
  'signature',
  'token',
  'key',
  'apikey',
  'auth',
  'authorization',
  'pass',
  'passwd',
  'pwd',
  'password',
  'secret',
  'policy',
  'keypairid',
  'credential',
  'credentials',
  'session',
  'sessionid',
  'accesskey',
  'code',
  'jwt',
  'bearer',
]);
const CREDENTIAL_PARTS = [
  'signature',
  'token',
  'secret',
  'password',
  'passwd',
  'credential',
  'apikey',
  'accesskey',
  'privatekey',
  'auth',
];

function credentialLike(name: string): boolean {
  let n: string;
  try {
    n = decodeURIComponent(name);
  } catch {
    n = name;
  }
  n = n.toLowerCase().replace(/[-_.\s]/g, '');
  return CREDENTIAL_NAMES.has(n) || CREDENTIAL_PARTS.some((p) => n.includes(p));
}

/** True when a query string or fragment (with or without its leading '?'/'#') names a credential-like parameter. */
export function carriesCredential(query: string): boolean {
  const q = query.replace(/^[?#]/, '');
  if (!q) return false;
  return q.split(/[&;]/).some((pair) => credentialLike(pair.split('=')[0] ?? ''));
}

const SCHEME = /^([a-z][a-z0-9+.-]*:\/\/)/i;

/**
 * One URL without its secrets: userinfo dropped; query and fragment replaced by `?redacted` /
 * `#redacted` when they carry a credential-like parameter. Strings that are not URLs (plain
 * paths) are returned as they are. Works on the text, so it never fails and never re-encodes
 * the rest of the URL.
 */
export function redactUrl(s: string): string {
  const m = SCHEME.exec(s);
  if (!m) return s;
  const scheme = m[1]!;
  let rest = s.slice(scheme.length);
  // Authority ends at the first '/', '?', '#' (or '\\', which WHATWG treats as '/' for http).
  const authEnd = rest.search(/[/?#\\]/);
  const authority = authEnd === -1 ? rest : rest.slice(0, authEnd);
  const at = authority.lastIndexOf('@');
  if (at !== -1) rest = rest.slice(at + 1);
  const hashAt = rest.indexOf('#');
  let fragment = hashAt === -1 ? '' : rest.slice(hashAt);
  if (hashAt !== -1) rest = rest.slice(0, hashAt);
  const qAt = rest.indexOf('?');
  let query = qAt === -1 ? '' : rest.slice(qAt);
  if (qAt !== -1) rest = rest.slice(0, qAt);
  if (carriesCredential(query)) query = `?${REDACTED_QUERY}`;
  if (carriesCredential(fragment)) fragment = `#${REDACTED_QUERY}`;
  return `${scheme}${rest}${query}${fragment}`;
}

// A URL inside free text (an error message): scheme://, then up to whitespace, a quote or a bracket.
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;

/** Every URL inside a piece of text (an error message, a log line) redacted as redactUrl does. */
export function redactText(s: string): string {
  if (!s.includes('://')) return s;
  // Punctuation that ends a sentence ("… see https://h/x?token=1.") stays outside the URL.
  return s.replace(URL_IN_TEXT, (u) => {
    const tail = /[.,:;!?)\]}]+$/.exec(u)?.[0] ?? '';
    return redactUrl(u.slice(0, u.length - tail.length)) + tail;
  });
}

/** A JSON-able value as plain data with redactText applied to every string in it (keys are left alone). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactText(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === 'object') {
    // What JSON.stringify would write: toJSON's result, else the own enumerable properties.
    const toJSON = (value as { toJSON?: () => unknown }).toJSON;
    if (typeof toJSON === 'function') return redactDeep(toJSON.call(value)) as T;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v);
    return out as T;
  }
  return value;
}
