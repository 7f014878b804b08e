// S3 storage against moto, and http(s) downloads against a local server: round trips are byte
// for byte, big files go multipart, nothing partial is left behind, and every failure arrives as
// the NommerError a user can act on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../src/adapters/aws/clients.js';
import { S3Storage } from '../src/adapters/aws/s3-storage.js';
import { downloadHttp } from '../src/adapters/http-download.js';
import { NommerError } from '../src/errors.js';
import { tempDir } from './helpers/media.js';
import { startMoto, type Moto } from './helpers/moto.js';

const BUCKET = 'nommer-storage-test';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function isNommer(code: string, extra: (e: NommerError) => boolean = () => true) {
  return (err: unknown) => {
    assert.ok(err instanceof NommerError, `expected a NommerError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(extra(err), `${err.message} (${err.hint ?? 'no hint'})`);
    return true;
  };
}

/** SDK-edge fakes: delay or fail UploadPart, standing in for a slow or failing network to S3. */
function onUploadPart(client: S3Client, hook: (partNumber: number) => Promise<void>): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand') await hook((args.input as { PartNumber: number }).PartNumber);
      return next(args);
    },
    { step: 'initialize', name: 'testUploadPartHook' },
  );
}

/** Runs `hook` when S3 has answered a `commandName` request, before the caller sees the answer. */
function afterAnswer(client: S3Client, commandName: string, hook: () => Promise<void>): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if (context.commandName === commandName) await hook();
      return out;
    },
    { step: 'initialize', name: `testAfter${commandName}` },
  );
}

describe('S3 storage (moto)', () => {
  let moto: Moto;
  let client: S3Client;
  let storage: S3Storage;
  const dir = tempDir('nommer-s3-');

  before(async () => {
    moto = await startMoto();
    client = s3Client({ endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    storage = new S3Storage({ client });
  });
  after(async () => {
    await moto?.stop();
    dir.cleanup();
  });

  const openUploads = async () =>
    (await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }))).Uploads ?? [];

  it("a stored file fetches back byte for byte, under the key's file name", async () => {
    const src = join(dir.path, 'small.webm');
    const bytes = randomBytes(100_000);
    writeFileSync(src, bytes);
    const stored = await storage.store(src, `s3://${BUCKET}/out/small.webm`);
    assert.deepEqual(stored, { uri: `s3://${BUCKET}/out/small.webm`, bytes: 100_000 });
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'out/small.webm' }));
    assert.equal(head.ContentType, 'video/webm');

    const dest = tempDir('nommer-s3-dest-');
    try {
      const progress: Array<[number, number | undefined]> = [];
      const path = await storage.fetch(`s3://${BUCKET}/out/small.webm`, dest.path, {
        onBytes: (d, t) => progress.push([d, t]),
      });
      assert.equal(path, join(dest.path, 'small.webm'));
      assert.ok(readFileSync(path).equals(bytes));
      assert.deepEqual(progress.at(-1), [100_000, 100_000]);
      assert.deepEqual(readdirSync(dest.path), ['small.webm'], 'no temp files left');
    } finally {
      dest.cleanup();
    }
  });

  it('an 11 MiB file is uploaded in parts and comes back identical', async () => {
    const src = join(dir.path, 'big.bin');
    const bytes = randomBytes(11 * 1024 * 1024);
    writeFileSync(src, bytes);
    await storage.store(src, `s3://${BUCKET}/big/big.bin`);
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'big/big.bin' }));
    assert.equal(head.ContentLength, bytes.length);
    assert.match(head.ETag ?? '', /-2"?$/, 'a multipart ETag of 2 parts (8 MiB + 3 MiB)');
    const dest = tempDir('nommer-s3-dest-');
    try {
      const path = await storage.fetch(`s3://${BUCKET}/big/big.bin`, dest.path);
      assert.ok(readFileSync(path).equals(bytes));
    } finally {
      dest.cleanup();
    }
  });

  it('an existing object is not overwritten unless asked, and exists/remove agree', async () => {
    const uri = `s3://${BUCKET}/out/keep.webm`;
    const a = join(dir.path, 'a.webm');
    const b = join(dir.path, 'b.webm');
    writeFileSync(a, 'first');
    writeFileSync(b, 'second!');
    assert.equal(await storage.exists(uri), false);
    await storage.store(a, uri);
    assert.equal(await storage.exists(uri), true);
    await assert.rejects(
      storage.store(b, uri),
      isNommer('OUTPUT_EXISTS', (e) => e.message.includes(uri) && !e.retriable),
    );
    assert.equal(
      (await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'out/keep.webm' }))).ContentLength,
      5,
      'first version kept',
    );
    assert.deepEqual(await storage.store(b, uri, { overwrite: true }), { uri, bytes: 7 });
    await storage.remove(uri);
    assert.equal(await storage.exists(uri), false);
    await storage.remove(uri); // idempotent
  });

  it('server-side encryption is requested when configured', async () => {
    const sse = new S3Storage({ client, sse: 'AES256' });
    const src = join(dir.path, 'enc.ogg');
    writeFileSync(src, 'encrypted');
    await sse.store(src, `s3://${BUCKET}/enc.ogg`);
    // moto echoes the setting without encrypting (AWS-EMULATION.md); AWS would encrypt at rest.
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'enc.ogg' }));
    assert.equal(head.ServerSideEncryption, 'AES256');
  });

  it('a missing bucket or key is STORAGE_NOT_FOUND with a clear message, and leaves no file', async () => {
    const dest = tempDir('nommer-s3-dest-');
    try {
      await assert.rejects(
        storage.fetch('s3://no-such-bucket-here/x.mp4', dest.path),
        isNommer(
          'STORAGE_NOT_FOUND',
          (e) =>
            /bucket does not exist/.test(e.message) &&
            e.message.includes('s3://no-such-bucket-here/x.mp4') &&
            !e.retriable,
        ),
      );
      await assert.rejects(
        storage.fetch(`s3://${BUCKET}/nothing/here.mp4`, dest.path),
        isNommer('STORAGE_NOT_FOUND', (e) => /no such object/.test(e.message)),
      );
      const src = join(dir.path, 'c.webm');
      writeFileSync(src, 'x');
      await assert.rejects(
        storage.store(src, 's3://no-such-bucket-here/c.webm'),
        isNommer('STORAGE_NOT_FOUND', (e) => /bucket does not exist/.test(e.message) && /setup aws/.test(e.hint ?? '')),
      );
      assert.deepEqual(readdirSync(dest.path), []);
    } finally {
      dest.cleanup();
    }
  });

  it('an upload that fails mid-way leaves no object and no open multipart upload', async () => {
    const failing = s3Client({ endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 });
    onUploadPart(failing, async (part) => {
      if (part === 2)
        throw Object.assign(new Error('We encountered an internal error'), {
          name: 'InternalError',
          $fault: 'server',
          $metadata: { httpStatusCode: 500 },
        });
    });
    const src = join(dir.path, 'fail.bin');
    writeFileSync(src, randomBytes(11 * 1024 * 1024));
    await assert.rejects(
      new S3Storage({ client: failing, queueSize: 1 }).store(src, `s3://${BUCKET}/fail.bin`),
      isNommer('STORAGE_FAILED', (e) => e.retriable),
    );
    assert.equal(await storage.exists(`s3://${BUCKET}/fail.bin`), false);
    assert.deepEqual(await openUploads(), []);
  });

  // Each cancel lands in a phase chosen by construction: S3 has made the multipart upload but
  // lib-storage hears its id late (after the cancel); or a part has landed while the others are
  // held on their way. store() must not return before whatever it started is undone.
  for (const [phase, commandName] of [
    ['the multipart upload is created, its id heard late', 'CreateMultipartUploadCommand'],
    ['a part has landed and the others are held in flight', 'UploadPartCommand'],
  ] as const) {
    it(`a canceled upload rejects with CANCELED and nothing partial remains when it returns: ${phase}`, async () => {
      const slow = s3Client({ endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 });
      const ac = new AbortController();
      let answered = 0;
      afterAnswer(slow, commandName, async () => {
        if (++answered > 1) return;
        ac.abort();
        if (commandName === 'CreateMultipartUploadCommand') await sleep(300);
      });
      onUploadPart(slow, (part) => (part > 1 ? sleep(300) : Promise.resolve()));
      const src = join(dir.path, 'cancel.bin');
      writeFileSync(src, randomBytes(11 * 1024 * 1024));
      await assert.rejects(
        new S3Storage({ client: slow }).store(src, `s3://${BUCKET}/cancel.bin`, { signal: ac.signal }),
        isNommer('CANCELED'),
      );
      assert.ok(ac.signal.aborted, 'the cancel came from the hook');
      assert.equal(await storage.exists(`s3://${BUCKET}/cancel.bin`), false);
      assert.deepEqual(await openUploads(), [], 'multipart upload aborted before store() returned');
    });
  }

  it('a part size below 5 MiB is refused at construction', () => {
    assert.throws(
      () => new S3Storage({ client, partSizeBytes: 1024 }),
      isNommer('CONFIG_INVALID', (e) => /5 MiB/.test(e.message)),
    );
  });
});

describe('S3 access denied (moto with IAM enforced)', () => {
  let moto: Moto;
  let keys: { id: string; secret: string };
  const dir = tempDir('nommer-s3-iam-');

  /** IAM query API by hand (no IAM client is a dependency). Inside the first
   * INITIAL_NO_AUTH_ACTION_COUNT requests moto routes by the credential scope without checking it. */
  async function iam(params: Record<string, string>): Promise<string> {
    const res = await fetch(`${moto.endpoint}/`, {
      method: 'POST',
      body: new URLSearchParams({ Version: '2010-05-08', ...params }).toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization:
          'AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
      },
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return text;
  }

  before(async () => {
    // Exactly the four set-up requests below run unauthenticated; everything after is checked.
    moto = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: '4' } });
    await iam({ Action: 'CreateUser', UserName: 'reader' });
    await iam({
      Action: 'PutUserPolicy',
      UserName: 'reader',
      PolicyName: 'read-only',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket'], Resource: '*' }],
      }),
    });
    const xml = await iam({ Action: 'CreateAccessKey', UserName: 'reader' });
    keys = { id: /<AccessKeyId>([^<]+)</.exec(xml)![1]!, secret: /<SecretAccessKey>([^<]+)</.exec(xml)![1]! };
    await s3Client({ endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 }).send(
      new CreateBucketCommand({ Bucket: BUCKET }),
    );
  });
  after(async () => {
    await moto?.stop();
    dir.cleanup();
  });

  function storageAs(id: string, secret: string): S3Storage {
    // Explicit credentials for this one client only (AwsSettings deliberately has no keys: the
    // product always uses the SDK's credential chain).
    return new S3Storage({
      client: new S3Client({
        endpoint: moto.endpoint,
        forcePathStyle: true,
        maxAttempts: 1,
        credentials: { accessKeyId: id, secretAccessKey: secret },
      }),
    });
  }

  it('a user without s3:PutObject gets STORAGE_DENIED naming the missing action', async () => {
    const src = join(dir.path, 'out.webm');
    writeFileSync(src, 'data');
    await assert.rejects(
      storageAs(keys.id, keys.secret).store(src, `s3://${BUCKET}/out.webm`),
      isNommer(
        'STORAGE_DENIED',
        (e) => !e.retriable && /s3:PutObject/.test(e.hint ?? '') && e.message.includes(`s3://${BUCKET}/out.webm`),
      ),
    );
  });

  it('unknown keys and wrong secrets are STORAGE_DENIED about the credentials, with no key in the message', async () => {
    const src = join(dir.path, 'out2.webm');
    writeFileSync(src, 'data');
    await assert.rejects(
      storageAs('AKIAIOSFODNN7EXAMPLE', 'nope').fetch(`s3://${BUCKET}/x.mp4`, dir.path),
      isNommer(
        'STORAGE_DENIED',
        (e) =>
          /InvalidAccessKeyId/.test(e.message) &&
          /credentials/.test(e.hint ?? '') &&
          !e.message.includes('AKIAIOSFODNN7EXAMPLE'),
      ),
    );
    await assert.rejects(
      storageAs(keys.id, 'wrong-secret').store(src, `s3://${BUCKET}/out2.webm`, { overwrite: true }),
      isNommer('STORAGE_DENIED', (e) => /SignatureDoesNotMatch/.test(e.message) && !e.message.includes(keys.secret)),
    );
  });
});

describe('http(s) downloads', () => {
  let server: Server;
  let base: string;
  const payload = randomBytes(300_000);
  const dir = tempDir('nommer-http-');

  before(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '/';
      if (url === '/files/clip%20one.mp4') {
        res.writeHead(200, { 'content-length': payload.length });
        res.end(payload);
        return;
      }
      if (url === '/hop') {
        res.writeHead(302, { location: '/files/clip%20one.mp4' });
        res.end();
        return;
      }
      if (url.startsWith('/loop')) {
        res.writeHead(301, { location: '/loop' });
        res.end();
        return;
      }
      if (url === '/forbidden.mp4') {
        res.writeHead(403);
        res.end('no');
        return;
      }
      if (url === '/broken.mp4') {
        res.writeHead(503);
        res.end('busy');
        return;
      }
      if (url === '/truncated.mp4') {
        // Promise 1 MB, send 1000 bytes, drop the connection: a dying server or network.
        res.writeHead(200, { 'content-length': 1_000_000 });
        res.write(payload.subarray(0, 1000), () => res.destroy());
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    dir.cleanup();
  });

  const freshDir = () => tempDir('nommer-http-dest-');

  it('downloads to a file named after the URL, byte for byte, reporting progress', async () => {
    const d = freshDir();
    try {
      let last: [number, number | undefined] = [0, undefined];
      const path = await downloadHttp(`${base}/files/clip%20one.mp4`, d.path, {
        onBytes: (n, t) => {
          last = [n, t];
        },
      });
      assert.equal(path, join(d.path, 'clip one.mp4'));
      assert.ok(readFileSync(path).equals(payload));
      assert.deepEqual(last, [payload.length, payload.length]);
    } finally {
      d.cleanup();
    }
  });

  it('follows redirects, and S3Storage fetches http inputs the same way', async () => {
    const d = freshDir();
    try {
      const storage = new S3Storage({ client: s3Client({ region: 'us-east-1' }) });
      assert.ok(storage.handles(`${base}/hop`));
      const path = await storage.fetch(`${base}/hop`, d.path);
      assert.ok(readFileSync(path).equals(payload));
    } finally {
      d.cleanup();
    }
  });

  it('a redirect loop stops at the limit with INPUT_UNREADABLE', async () => {
    await assert.rejects(
      downloadHttp(`${base}/loop`, dir.path, { maxRedirects: 3 }),
      isNommer('INPUT_UNREADABLE', (e) => /more than 3 redirects/.test(e.message)),
    );
  });

  it('404 is INPUT_NOT_FOUND, 403 INPUT_UNREADABLE, 5xx a retriable STORAGE_FAILED', async () => {
    await assert.rejects(
      downloadHttp(`${base}/missing.mp4?X-Amz-Signature=secret`, dir.path),
      isNommer(
        'INPUT_NOT_FOUND',
        (e) => !e.retriable && e.message.includes('/missing.mp4') && !e.message.includes('secret'),
      ),
    );
    await assert.rejects(
      downloadHttp(`${base}/forbidden.mp4`, dir.path),
      isNommer('INPUT_UNREADABLE', (e) => !e.retriable && /presigned/.test(e.hint ?? '')),
    );
    await assert.rejects(
      downloadHttp(`${base}/broken.mp4`, dir.path),
      isNommer('STORAGE_FAILED', (e) => e.retriable && /503/.test(e.message)),
    );
  });

  it('a connection dropped mid-body or refused is a retriable STORAGE_FAILED and leaves no file', async () => {
    const d = freshDir();
    try {
      await assert.rejects(
        downloadHttp(`${base}/truncated.mp4`, d.path),
        isNommer('STORAGE_FAILED', (e) => e.retriable),
      );
      assert.deepEqual(readdirSync(d.path), [], 'no partial or temp file');
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      await assert.rejects(
        downloadHttp(`http://127.0.0.1:${port}/x.mp4`, d.path),
        isNommer('STORAGE_FAILED', (e) => e.retriable && /ECONNREFUSED/.test(e.message)),
      );
    } finally {
      d.cleanup();
    }
  });

  it('a canceled download is CANCELED and leaves no file', async () => {
    const d = freshDir();
    try {
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(
        downloadHttp(`${base}/files/clip%20one.mp4`, d.path, { signal: ac.signal }),
        isNommer('CANCELED'),
      );
      assert.deepEqual(readdirSync(d.path), []);
    } finally {
      d.cleanup();
    }
  });
});
