// SSRF filter: the address policy in every IPv6 form that embeds an IPv4, and that what is
// checked is what is connected to (one resolution per connection, inside the Agent's lookup),
// on every redirect hop. Loopback servers only; the metadata address is never reachable here,
// and the tests show no connection to it is even attempted.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  deniedAddress,
  downloadHttp,
  guardedLookup,
  parseCidr,
  type ResolveHost,
} from '../src/adapters/http-download.js';
import { NommerError } from '../src/errors.js';
import { tempDir } from './helpers/media.js';

const METADATA = ['169.254.169.254', '169.254.170.2', 'fd00:ec2::254'];

/** A rejection that is a NommerError with this code (and message). */
const isNommer = (code: string, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof NommerError, `not a NommerError: ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (message) assert.match(e.message, message);
  return true;
};

describe('address policy', () => {
  it('refuses link-local, metadata and unspecified addresses in IPv4 and every IPv6 form that embeds an IPv4', () => {
    const denied = [
      ...METADATA,
      '169.254.0.1',
      '0.0.0.0',
      '0.1.2.3',
      '::',
      '0:0:0:0:0:0:0:0',
      'fe80::1',
      'fe80::1%eth0',
      'febf:ffff::1',
      // IPv4-mapped, in every spelling.
      '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe',
      '::FFFF:A9FE:A9FE',
      '0:0:0:0:0:ffff:169.254.169.254',
      '0000:0000:0000:0000:0000:ffff:a9fe:a9fe',
      '::ffff:0.0.0.0',
      '::ffff:0:0',
      // IPv4-translated (SIIT) and IPv4-compatible.
      '::ffff:0:a9fe:a9fe',
      '::ffff:0:169.254.169.254',
      '::a9fe:a9fe',
      '::169.254.169.254',
      '0:0:0:0:0:0:a9fe:a9fe',
      // NAT64: the well-known prefix decoded, the local-use /48 refused whole.
      '64:ff9b::a9fe:a9fe',
      '64:ff9b::169.254.169.254',
      '64:ff9b:0:0:0:0:a9fe:a9fe',
      '64:ff9b::',
      '64:ff9b:1::a9fe:a9fe',
      '64:ff9b:1:a9:fe:a9fe::',
      '64:ff9b:1:ffff:ffff:ffff:ffff:ffff',
      // 6to4 around a denied IPv4.
      '2002:a9fe:a9fe::',
      '2002:a9fe:a9fe:1::1',
      '2002:a9fe::1',
      '2002::1',
      // The EC2 IPv6 metadata range.
      'fd00:ec2::23',
      'fd00:ec2:ffff::1',
      'FD00:0EC2:0000::0254',
    ];
    for (const a of denied) {
      for (const policy of [
        {},
        { denyLoopback: true },
        { denyPrivate: true, allowPrivate: ['169.254.0.0/16', 'fd00::/8', '::/0'] },
      ]) {
        assert.match(deniedAddress(a, policy) ?? 'allowed', /link-local/, `${a} ${JSON.stringify(policy)}`);
      }
    }
  });

  it('loopback in every form: refused with denyLoopback, allowed without', () => {
    const loopback = [
      '127.0.0.1',
      '127.1.2.3',
      '127.255.255.255',
      '::1',
      '0:0:0:0:0:0:0:1',
      '0000:0000:0000:0000:0000:0000:0000:0001',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:7f00:0001',
      '::127.0.0.1',
      '::7f00:1',
      '::ffff:0:127.0.0.1',
      '64:ff9b::127.0.0.1',
      '64:ff9b::7f00:1',
      '2002:7f00:1::',
      '2002:7f12:3456::1',
    ];
    for (const a of loopback) {
      assert.match(deniedAddress(a, { denyLoopback: true }) ?? 'allowed', /loopback/, a);
      assert.equal(deniedAddress(a), null, a);
      assert.equal(deniedAddress(a, { denyPrivate: true }), null, a);
    }
  });

  it('private ranges in every form: refused with denyPrivate unless allowed, allowed without', () => {
    const priv = [
      '10.0.0.1',
      '10.255.255.255',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '192.168.255.255',
      '100.64.0.1',
      '100.127.255.254',
      'fc00::1',
      'fd12:3456::1',
      'fdff:ffff::1',
      'fec0::1',
      '::ffff:10.0.0.1',
      '::ffff:a00:1',
      '::10.0.0.1',
      '::ffff:0:192.168.1.1',
      '64:ff9b::10.0.0.1',
      '64:ff9b::c0a8:101',
      '2002:c0a8:101::1',
      '2002:ac10::1',
      '2002:6440:1::',
    ];
    for (const a of priv) {
      assert.match(deniedAddress(a, { denyPrivate: true }) ?? 'allowed', /private/, a);
      assert.equal(deniedAddress(a), null, a);
      assert.equal(deniedAddress(a, { denyLoopback: true }), null, a);
    }
    const allow = { denyPrivate: true, allowPrivate: ['10.20.0.0/16', 'fd12:3456::/32', '192.168.1.5'] };
    for (const a of [
      '10.20.0.1',
      '10.20.255.255',
      '::ffff:10.20.1.1',
      '64:ff9b::a14:101',
      '2002:a14:101::',
      'fd12:3456:1::1',
      '192.168.1.5',
    ]) {
      assert.equal(deniedAddress(a, allow), null, a);
    }
    for (const a of ['10.21.0.1', '10.19.255.255', 'fd12:3457::1', '192.168.1.6', '172.16.0.1'])
      assert.match(deniedAddress(a, allow) ?? 'allowed', /private/, a);
    // An allowed range never opens metadata or loopback.
    assert.ok(deniedAddress('169.254.169.254', { denyPrivate: true, allowPrivate: ['0.0.0.0/0'] }));
    assert.ok(deniedAddress('127.0.0.1', { denyLoopback: true, denyPrivate: true, allowPrivate: ['127.0.0.0/8'] }));
    assert.throws(
      () => deniedAddress('10.0.0.1', { denyPrivate: true, allowPrivate: ['10.0.0.0/33'] }),
      isNommer('CONFIG_INVALID', /10\.0\.0\.0\/33/),
    );
    assert.throws(
      () => deniedAddress('10.0.0.1', { denyPrivate: true, allowPrivate: ['intranet'] }),
      isNommer('CONFIG_INVALID'),
    );
  });

  it('ordinary public addresses pass the strictest policy, names are no addresses, and range edges are exact', () => {
    const strict = { denyLoopback: true, denyPrivate: true };
    const pub = [
      '93.184.216.34',
      '8.8.8.8',
      '1.1.1.1',
      '172.15.255.255',
      '172.32.0.1',
      '100.63.255.255',
      '100.128.0.1',
      '11.0.0.1',
      '9.255.255.255',
      '192.169.0.1',
      '169.253.255.255',
      '169.255.0.1',
      '126.255.255.255',
      '128.0.0.1',
      '2606:4700:4700::1111',
      '2001:4860:4860::8888',
      '2a00:1450:4001:80b::200e',
      '::ffff:8.8.8.8',
      '::ffff:808:808',
      '64:ff9b::808:808',
      '64:ff9b::93.184.216.34',
      '2002:808:808::1',
      'fe00::1',
      'fbff::1',
    ];
    for (const a of pub) {
      assert.equal(deniedAddress(a, strict), null, a);
      assert.equal(deniedAddress(a), null, a);
    }
    assert.equal(deniedAddress('media.example.com', strict), null);
    // Just past the EC2 metadata range: a unique-local address like any other.
    assert.equal(deniedAddress('fd00:ec3::1'), null);
    assert.match(deniedAddress('fd00:ec3::1', strict) ?? 'allowed', /private/);
  });

  it('parseCidr: addresses and CIDRs through node:net, nothing else', () => {
    assert.deepEqual(parseCidr('10.20.0.0/16'), { address: '10.20.0.0', prefix: 16, family: 4 });
    assert.deepEqual(parseCidr('fd12::/48'), { address: 'fd12::', prefix: 48, family: 6 });
    assert.deepEqual(parseCidr('192.168.1.5'), { address: '192.168.1.5', prefix: 32, family: 4 });
    assert.deepEqual(parseCidr('::1'), { address: '::1', prefix: 128, family: 6 });
    for (const bad of [
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/',
      '10.0.0.0/x',
      '10.0.0.0/-1',
      '10.0.0.0/8.5',
      '010.0.0.1/8',
      'example.com/8',
      'fe80::1%eth0/64',
      '',
    ])
      assert.equal(parseCidr(bad), null, bad);
  });

  it('guardedLookup answers net in both shapes, and one denied answer fails the whole lookup', async () => {
    const check = (a: string) => deniedAddress(a);
    const ask = (resolve: ResolveHost, options: { all?: boolean; family?: number }) =>
      new Promise<{ err: Error | null; address: unknown; family?: number }>((r) =>
        guardedLookup(check, resolve)('h.example', options, (err, address, family) => r({ err, address, family })),
      );
    const both: ResolveHost = async () => [
      { address: '2001:db8::1', family: 6 },
      { address: '93.184.216.34', family: 4 },
    ];
    assert.deepEqual(await ask(both, { all: true }), {
      err: null,
      address: [
        { address: '2001:db8::1', family: 6 },
        { address: '93.184.216.34', family: 4 },
      ],
      family: undefined,
    });
    assert.deepEqual(await ask(both, {}), { err: null, address: '2001:db8::1', family: 6 });
    assert.deepEqual(await ask(both, { family: 4 }), { err: null, address: '93.184.216.34', family: 4 });
    const mixed: ResolveHost = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '169.254.169.254', family: 4 },
    ];
    const r = await ask(mixed, { all: true });
    assert.match(String(r.err), /refusing to connect to 169\.254\.169\.254 \(for h\.example\)/);
    const failing: ResolveHost = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND h.example'), { code: 'ENOTFOUND' });
    };
    assert.equal(((await ask(failing, {})).err as NodeJS.ErrnoException).code, 'ENOTFOUND');
    assert.equal(((await ask(async () => [], {})).err as NodeJS.ErrnoException).code, 'ENOTFOUND');
  });
});

describe('downloads connect only where the policy allows', () => {
  const payload = Buffer.from('not really media, but bytes all the same\n'.repeat(100));
  let server: Server;
  let port: number;
  let connections = 0;
  const requests: string[] = [];
  const redirects: Record<string, string> = {
    '/to-compat.mp4': 'http://[::a9fe:a9fe]/latest/meta-data/',
    '/to-nat64.mp4': 'http://[64:ff9b::a9fe:a9fe]/latest/meta-data/',
    '/to-mapped.mp4': 'http://[::ffff:169.254.169.254]/latest/meta-data/',
    '/to-6to4.mp4': 'http://[2002:a9fe:a9fe::1]/latest/meta-data/',
    '/to-ec2v6.mp4': 'http://[fd00:ec2::254]/latest/meta-data/',
  };
  const dir = tempDir('nommer-ssrf-');

  // What undici connected to, and which connections the policy refused, during one download.
  const connected: string[] = [];
  const refused: string[] = [];
  const onConnected = (m: unknown) => {
    connected.push((m as { socket: Socket }).socket.remoteAddress ?? '?');
  };
  const onConnectError = (m: unknown) => {
    refused.push(String((m as { error: Error }).error.message));
  };

  before(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const target = redirects[req.url ?? ''];
      if (target) {
        res.writeHead(302, { location: target });
        res.end();
        return;
      }
      // Closes its connection, so the next hop needs a new connection and so a new resolution.
      if (req.url === '/start.mp4') {
        res.writeHead(302, { location: '/clip.mp4', connection: 'close' });
        res.end();
        return;
      }
      if (req.url === '/clip.mp4') {
        res.writeHead(200, { 'content-length': payload.length });
        res.end(payload);
        return;
      }
      res.writeHead(404);
      res.end();
    });
    server.on('connection', () => {
      connections++;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    subscribe('undici:client:connected', onConnected);
    subscribe('undici:client:connectError', onConnectError);
  });
  after(async () => {
    unsubscribe('undici:client:connected', onConnected);
    unsubscribe('undici:client:connectError', onConnectError);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    dir.cleanup();
  });
  const reset = () => {
    connections = 0;
    requests.length = 0;
    connected.length = 0;
    refused.length = 0;
  };

  it('DNS rebinding: a name that answers a local address first and the metadata address second is refused at the second connection, which is never made', async () => {
    reset();
    const asked: string[] = [];
    const answers = ['127.0.0.1', '169.254.169.254'];
    const rebinding: ResolveHost = async (hostname) => {
      asked.push(hostname);
      const address = answers[Math.min(asked.length - 1, answers.length - 1)]!;
      return [{ address, family: 4 }];
    };
    await assert.rejects(
      downloadHttp(`http://media.example:${port}/start.mp4`, dir.path, { lookup: rebinding }),
      isNommer(
        'INPUT_UNREADABLE',
        /media\.example:\d+\/clip\.mp4: refusing to download from 169\.254\.169\.254, a link-local/,
      ),
    );
    assert.deepEqual(asked, ['media.example', 'media.example'], 'one resolution per connection, none besides');
    assert.deepEqual(requests, ['/start.mp4'], 'the second hop never reached any server');
    assert.equal(connections, 1);
    assert.deepEqual(connected, ['127.0.0.1'], 'undici connected once, to the first answer');
    assert.equal(refused.length, 1);
    assert.match(refused[0]!, /refusing to connect to 169\.254\.169\.254 \(for media\.example\)/);
    // Not retriable: the policy is not a network hiccup.
    await assert.rejects(
      downloadHttp(`http://media.example:${port}/start.mp4`, dir.path, {
        lookup: async () => [{ address: '169.254.169.254', family: 4 }],
      }),
      (e: unknown) => e instanceof NommerError && !e.retriable,
    );
  });

  it('the same two-connection download works when every answer is allowed: exactly one resolution per connection', async () => {
    reset();
    let asked = 0;
    const path = await downloadHttp(`http://media.example:${port}/start.mp4`, dir.path, {
      lookup: async () => {
        asked++;
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    assert.ok(readFileSync(path).equals(payload));
    assert.deepEqual(requests, ['/start.mp4', '/clip.mp4']);
    assert.equal(connections, 2);
    assert.equal(asked, connections);
  });

  it('one denied answer among allowed ones fails the connection before it is made', async () => {
    reset();
    const lookup: ResolveHost = async () => [
      { address: '127.0.0.1', family: 4 },
      { address: '::ffff:a9fe:a9fe', family: 6 },
    ];
    await assert.rejects(
      downloadHttp(`http://media.example:${port}/clip.mp4`, dir.path, { lookup }),
      isNommer('INPUT_UNREADABLE', /refusing to download from ::ffff:a9fe:a9fe/),
    );
    assert.equal(connections, 0);
    assert.deepEqual(connected, []);
  });

  for (const [path, target] of Object.entries(redirects)) {
    it(`a redirect to ${target} is refused without a connection to it`, async () => {
      reset();
      const host = new URL(target).hostname.slice(1, -1);
      await assert.rejects(
        downloadHttp(`http://127.0.0.1:${port}${path}`, dir.path),
        isNommer(
          'INPUT_UNREADABLE',
          new RegExp(`refusing to download from ${host.replace(/\./g, '\\.')}, a link-local`),
        ),
      );
      assert.deepEqual(requests, [path]);
      assert.deepEqual(connected, ['127.0.0.1']);
      assert.equal(refused.length, 1);
    });
  }

  it('the metadata address as the URL itself, in IPv6 forms: refused, nothing connected', async () => {
    for (const url of [
      'http://[::a9fe:a9fe]/',
      'http://[64:ff9b::a9fe:a9fe]/',
      'http://[0:0:0:0:0:ffff:a9fe:a9fe]/',
      'http://[64:ff9b:1::a9fe:a9fe]/',
      'http://[::ffff:0:a9fe:a9fe]/',
      'http://0xa9.0376.43518/',
    ]) {
      reset();
      await assert.rejects(downloadHttp(url, dir.path), isNommer('INPUT_UNREADABLE', /refusing to download from/), url);
      assert.deepEqual(connected, [], url);
    }
  });

  it('a 127.0.0.1 server: downloaded when loopback is allowed (local backend), refused with denyLoopback before connecting', async () => {
    reset();
    const path = await downloadHttp(`http://127.0.0.1:${port}/clip.mp4`, dir.path, { fileName: 'local.mp4' });
    assert.ok(readFileSync(path).equals(payload));
    reset();
    await assert.rejects(
      downloadHttp(`http://127.0.0.1:${port}/clip.mp4`, dir.path, { denyLoopback: true }),
      isNommer('INPUT_UNREADABLE', /refusing to download from 127\.0\.0\.1, a loopback/),
    );
    await assert.rejects(
      downloadHttp(`http://[::ffff:127.0.0.1]:${port}/clip.mp4`, dir.path, { denyLoopback: true }),
      isNommer('INPUT_UNREADABLE', /loopback/),
    );
    await assert.rejects(
      downloadHttp(`http://localhost:${port}/clip.mp4`, dir.path, { denyLoopback: true }),
      isNommer('INPUT_UNREADABLE', /loopback/),
    );
    await assert.rejects(
      downloadHttp(`http://media.example:${port}/clip.mp4`, dir.path, {
        denyLoopback: true,
        lookup: async () => [{ address: '::7f00:1', family: 6 }],
      }),
      isNommer('INPUT_UNREADABLE', /refusing to download from ::7f00:1, a loopback/),
    );
    assert.equal(connections, 0);
    assert.deepEqual(connected, []);
  });

  it('denyPrivate refuses a name resolving to a private range and a private literal before connecting; a bad allowPrivate is CONFIG_INVALID', async () => {
    reset();
    const lookup: ResolveHost = async () => [{ address: '10.1.2.3', family: 4 }];
    await assert.rejects(
      downloadHttp(`http://nas.example:${port}/clip.mp4`, dir.path, { denyPrivate: true, lookup }),
      isNommer('INPUT_UNREADABLE', /refusing to download from 10\.1\.2\.3, a private-network/),
    );
    await assert.rejects(
      downloadHttp(`http://[fd12::1]:${port}/clip.mp4`, dir.path, { denyPrivate: true }),
      isNommer('INPUT_UNREADABLE', /private-network/),
    );
    assert.equal(refused.length, 2);
    assert.equal(connections, 0);
    await assert.rejects(
      downloadHttp(`http://nas.example:${port}/clip.mp4`, dir.path, {
        denyPrivate: true,
        allowPrivate: ['not-a-cidr'],
      }),
      isNommer('CONFIG_INVALID'),
    );
  });
});
