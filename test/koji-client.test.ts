import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Agent } from 'undici';
import { FormatError } from '../src/lib/errors.ts';
import { KojiClient, KojiError } from '../src/lib/koji/client.ts';
import { BUILD_STATES, buildStateName } from '../src/lib/koji/types.ts';
import { decodeResponse, encodeCall, Kwargs } from '../src/lib/koji/xmlrpc.ts';
import { formatDuration, OutageLog } from '../src/lib/net/outages.ts';

// A mock hub: each test queues handlers; every request is recorded.
type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
let server: Server;
let hub: string;
let handlers: Handler[] = [];
let seen: { body: string; headers: IncomingMessage['headers'] }[] = [];
const agent = new Agent({ keepAliveTimeout: 1000 });

before(async () => {
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      seen.push({ body, headers: req.headers });
      const h = handlers.length > 1 ? handlers.shift()! : handlers[0];
      if (!h) {
        res.statusCode = 500;
        res.end('no handler');
        return;
      }
      h(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hub = `http://127.0.0.1:${(server.address() as AddressInfo).port}/kojihub`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await agent.close();
});

function reset(...hs: Handler[]): void {
  handlers = hs;
  seen = [];
}

const xml = (text: string, status = 200): Handler => (_req, _body, res) => {
  res.writeHead(status, { 'content-type': 'text/xml' });
  res.end(text);
};
const status = (code: number, text = 'busy'): Handler => (_req, _body, res) => {
  res.writeHead(code, { 'content-type': 'text/plain' });
  res.end(text);
};
const drop: Handler = (req) => req.socket.destroy();

const ok = (value: string) => `<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n${value}\n</param>\n</params>\n</methodResponse>\n`;
const fault = (code: number, msg: string) =>
  `<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>${code}</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>${msg}</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n`;

/** A clock that moves only when the client sleeps: retry budgets without waiting for them. */
function fakeTime(): { now: () => number; sleep: (ms: number) => Promise<void>; sleeps: number[] } {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return { now: () => t, sleep: async (ms) => { sleeps.push(ms); t += ms; }, sleeps };
}

function client(extra: Partial<ConstructorParameters<typeof KojiClient>[0]> = {}): KojiClient {
  const { now, sleep } = fakeTime();
  return new KojiClient({ hub, dispatcher: agent, sleep, now, retryTimeMs: 60_000, ...extra });
}

test('every XML-RPC type decodes to the right JS value', async () => {
  reset(
    xml(
      ok(`<value><struct>
<member><name>int</name><value><int>42</int></value></member>
<member><name>i4</name><value><i4>-7</i4></value></member>
<member><name>i8small</name><value><i8>4294967296</i8></value></member>
<member><name>i8big</name><value><i8>9007199254740993</i8></value></member>
<member><name>double</name><value><double>-2.5</double></value></member>
<member><name>yes</name><value><boolean>1</boolean></value></member>
<member><name>no</name><value><boolean>0</boolean></value></member>
<member><name>str</name><value><string>  two  spaces
and a newline </string></value></member>
<member><name>untyped</name><value> plain text </value></member>
<member><name>emptyUntyped</name><value></value></member>
<member><name>emptyString</name><value><string></string></value></member>
<member><name>selfClosing</name><value><string/></value></member>
<member><name>escaped</name><value><string>&lt;&amp;&gt; &#65;&#x42; &amp;lt;</string></value></member>
<member><name>nil</name><value><nil/></value></member>
<member><name>exnil</name><value><ex:nil/></value></member>
<member><name>b64</name><value><base64>aGVs
bG8=</base64></value></member>
<member><name>when</name><value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value></member>
<member><name>list</name><value><array><data>
<value><int>1</int></value>
<value><string>b</string></value>
<value><array><data></data></array></value>
<value><struct><member><name>deep</name><value><array><data><value><nil/></value><value>x</value></data></array></value></member></struct></value>
</data></array></value></member>
<member><name>__proto__</name><value><string>not a prototype</string></value></member>
</struct></value>`),
    ),
  );
  const v = (await client().call('whatever')) as Record<string, unknown>;
  const expected: Record<string, unknown> = {
    int: 42,
    i4: -7,
    i8small: 4294967296,
    i8big: 9007199254740993n,
    double: -2.5,
    yes: true,
    no: false,
    str: '  two  spaces\nand a newline ',
    untyped: ' plain text ',
    emptyUntyped: '',
    emptyString: '',
    selfClosing: '',
    escaped: '<&> AB &lt;',
    nil: null,
    exnil: null,
    b64: Buffer.from('hello'),
    when: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
    list: [1, 'b', [], { deep: [null, 'x'] }],
  };
  Object.defineProperty(expected, '__proto__', { value: 'not a prototype', enumerable: true, writable: true, configurable: true });
  assert.deepEqual(v, expected);
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.equal(typeof v.i8big, 'bigint');
  assert.equal(seen.length, 1);
});

test('the request is the encoded call, POSTed as text/xml with a darkforge User-Agent', async () => {
  reset(xml(ok('<value><boolean>1</boolean></value>')));
  assert.equal(await client().call('ping', 5, 'a<b'), true);
  assert.equal(seen[0].headers['content-type'], 'text/xml');
  assert.match(String(seen[0].headers['user-agent']), /^darkforge\/\d+\.\d+\.\d+/);
  assert.equal(
    seen[0].body,
    `<?xml version="1.0"?>\n<methodCall><methodName>ping</methodName><params><param><value><int>5</int></value></param><param><value><string>a&lt;b</string></value></param></params></methodCall>\n`,
  );
});

test('encodeCall: int, i8, double, nil, boolean, base64, dateTime, array, struct and Kwargs', () => {
  const params = (x: string) => [...x.matchAll(/<param>(.*?)<\/param>/gs)].map((m) => m[1]);
  const got = params(
    encodeCall('m', [
      2147483647, -2147483648, 2147483648, -2147483649, 2n ** 62n, 1.5, null, false, Buffer.from('hi'),
      new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), [1, 'x'], { a: 1, skip: undefined as unknown as null, b: 'c&d' },
      new Kwargs({ buildID: 7, arches: ['x86_64'] }),
    ]),
  );
  assert.deepEqual(got, [
    '<value><int>2147483647</int></value>',
    '<value><int>-2147483648</int></value>',
    '<value><i8>2147483648</i8></value>',
    '<value><i8>-2147483649</i8></value>',
    '<value><i8>4611686018427387904</i8></value>',
    '<value><double>1.5</double></value>',
    '<value><nil/></value>',
    '<value><boolean>0</boolean></value>',
    '<value><base64>aGk=</base64></value>',
    '<value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value>',
    '<value><array><data><value><int>1</int></value><value><string>x</string></value></data></array></value>',
    '<value><struct><member><name>a</name><value><int>1</int></value></member><member><name>b</name><value><string>c&amp;d</string></value></member></struct></value>',
    '<value><struct><member><name>buildID</name><value><int>7</int></value></member>' +
      '<member><name>arches</name><value><array><data><value><string>x86_64</string></value></data></array></value></member>' +
      '<member><name>__starstar</name><value><boolean>1</boolean></value></member></struct></value>',
  ]);
  assert.throws(() => encodeCall('m', [new Kwargs({}), 1]), /last parameter/);
  assert.throws(() => encodeCall('m', [2n ** 64n]), /64 bits/);
});

test('decodeResponse rejects malformed XML and unexpected shapes with a FormatError', () => {
  for (const bad of [
    'not xml at all',
    '<methodResponse><params><param><value><int>1</int></value></param></params>',
    '<methodResponse></methodResponse>',
    ok('<value><int>12x</int></value>'),
    ok('<value><boolean>2</boolean></value>'),
    ok('<value><frob>1</frob></value>'),
    ok('<value><dateTime.iso8601>yesterday</dateTime.iso8601></value>'),
    ok('<value><struct><member><value><int>1</int></value></member></struct></value>'),
    ok('<value><string>a &bogus; b</string></value>'),
    '<methodResponse><fault><value><string>oops</string></value></fault></methodResponse>',
  ]) {
    assert.throws(() => decodeResponse(bad), FormatError, bad);
  }
  assert.deepEqual(decodeResponse(fault(1000, 'x')), { fault: { faultCode: 1000, faultString: 'x' } });
});

test('a fault becomes a KojiError naming the call and the hub, and is not retried', async () => {
  reset(xml(fault(1000, 'No such build: 12345')));
  const err = await client().call('getBuild', 12345).catch((e: unknown) => e);
  assert.ok(err instanceof KojiError);
  assert.equal(err.message, `Koji hub ${hub}: getBuild(12345) failed: fault 1000: No such build: 12345`);
  assert.equal(err.hub, hub);
  assert.equal(err.method, 'getBuild');
  assert.equal(err.faultCode, 1000);
  assert.equal(seen.length, 1);
});

test('two 503s, then success: three requests and the value; the waits grow, with jitter, under the cap', async () => {
  reset(status(503), status(503), xml(ok('<value><int>1</int></value>')));
  const t = fakeTime();
  const c = client({ backoffMs: 100, maxBackoffMs: 150, ...t });
  assert.equal(await c.call('getAPIVersion'), 1);
  assert.equal(seen.length, 3);
  assert.equal(t.sleeps.length, 2);
  assert.ok(t.sleeps[0] >= 50 && t.sleeps[0] <= 100 && t.sleeps[1] >= 75 && t.sleeps[1] <= 150, String(t.sleeps));
});

test('a dropped connection, then success', async () => {
  reset(drop, xml(ok('<value><string>fine</string></value>')));
  assert.equal(await client().call('hello'), 'fine');
  assert.equal(seen.length, 2);
});

test('persistent 503: KojiError when the retry budget is spent (total time, not a count), mentioning 503', async () => {
  reset(status(503, 'Service Unavailable'));
  // Waits of 100, then 150 (the cap) each: 100 + 6 x 150 = 1000 ms, the whole budget.
  const t = fakeTime();
  const err = await client({ retryTimeMs: 1000, backoffMs: 100, maxBackoffMs: 150, random: () => 1, ...t }).listRPMs(7).catch((e: unknown) => e);
  assert.ok(err instanceof KojiError);
  assert.deepEqual(t.sleeps, [100, 150, 150, 150, 150, 150, 150]);
  assert.equal(seen.length, 8);
  assert.match(err.message, /^Koji hub http:\/\/127\.0\.0\.1:\d+\/kojihub: listRPMs\(buildID=7\) gave HTTP 503 \(Service Unavailable\) after 8 attempts in 1 s$/);
  assert.equal(err.faultCode, undefined);
});

test('--retry-time 0: one attempt, no wait', async () => {
  reset(status(503, 'Service Unavailable'));
  const t = fakeTime();
  const err = await client({ retryTimeMs: 0, ...t }).call('x').catch((e: unknown) => e);
  assert.ok(err instanceof KojiError);
  assert.equal(seen.length, 1);
  assert.deepEqual(t.sleeps, []);
  assert.match(err.message, /x\(\) gave HTTP 503 \(Service Unavailable\)$/);
});

test('429 is retried, other 4xx are not', async () => {
  reset(status(429), xml(ok('<value><int>2</int></value>')));
  assert.equal(await client().call('x'), 2);
  assert.equal(seen.length, 2);
  reset(status(404, 'Not Found'));
  await assert.rejects(client().call('x'), (e: unknown) => e instanceof KojiError && /x\(\) gave HTTP 404 \(Not Found\)$/.test(e.message));
  assert.equal(seen.length, 1);
});

test('a refused connection is retried and then reported in one sentence', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const t = fakeTime();
  const c = new KojiClient({ hub: `http://127.0.0.1:${port}/kojihub`, retryTimeMs: 300, backoffMs: 100, maxBackoffMs: 100, random: () => 1, ...t, dispatcher: agent });
  const err = await c.getBuild(1).catch((e: unknown) => e);
  assert.ok(err instanceof KojiError);
  assert.equal(err.message, `Koji hub http://127.0.0.1:${port}/kojihub: getBuild(1) cannot connect (ECONNREFUSED) after 4 attempts in 0.3 s`);
  assert.equal(t.sleeps.length, 3);
});

test('a hub that never answers times out per request', async () => {
  reset(() => {});
  const err = await client({ timeoutMs: 150, retryTimeMs: 100, backoffMs: 100, random: () => 1 }).call('slow').catch((e: unknown) => e);
  assert.ok(err instanceof KojiError);
  assert.match(err.message, /slow\(\) timed out \(UND_ERR_HEADERS_TIMEOUT, limit 150 ms\) after 2 attempts in 0\.1 s$/);
  assert.equal(seen.length, 2);
});

test('a 200 that is not XML-RPC is a KojiError, not retried', async () => {
  reset(xml('<html><body>proxy error</body></html>'));
  await assert.rejects(client().call('x'), (e: unknown) => e instanceof KojiError && /x\(\) gave a response that is not XML-RPC/.test(e.message));
  assert.equal(seen.length, 1);
});

test('multicall returns one value and one fault, in order', async () => {
  reset(
    xml(
      ok(`<value><array><data>
<value><array><data><value><struct><member><name>id</name><value><int>5</int></value></member></struct></value></data></array></value>
<value><struct><member><name>faultCode</name><value><int>1000</int></value></member><member><name>faultString</name><value><string>bad</string></value></member><member><name>traceback</name><value><array><data><value><string>Traceback...</string></value></data></array></value></member></struct></value>
</data></array></value>`),
    ),
  );
  const res = await client().multicall([
    { method: 'getBuild', params: [5] },
    { method: 'listRPMs', params: [new Kwargs({ buildID: 6 })] },
  ]);
  assert.deepEqual(res, [{ value: { id: 5 } }, { fault: { faultCode: 1000, faultString: 'bad' } }]);
  assert.match(seen[0].body, /<methodName>system\.multicall<\/methodName>/);
  assert.match(seen[0].body, /<name>methodName<\/name><value><string>getBuild<\/string><\/value>/);
  assert.match(seen[0].body, /<name>buildID<\/name><value><int>6<\/int><\/value><\/member><member><name>__starstar<\/name><value><boolean>1<\/boolean>/);
});

test('getBuilds batches 120 ids into 3 multicalls, nil for missing builds', async () => {
  // Answers every getBuild in the multicall; ids divisible by 10 do not exist.
  const hubLike: Handler = (_req, body, res) => {
    const ids = [...body.matchAll(/<name>params<\/name><value><array><data><value><int>(\d+)<\/int>/g)].map((m) => Number(m[1]));
    const results = ids.map((id) =>
      id % 10 === 0
        ? '<value><array><data><value><nil/></value></data></array></value>'
        : `<value><array><data><value><struct><member><name>id</name><value><int>${id}</int></value></member><member><name>nvr</name><value><string>p-1-${id}</string></value></member><member><name>state</name><value><int>1</int></value></member></struct></value></data></array></value>`,
    );
    xml(ok(`<value><array><data>${results.join('\n')}</data></array></value>`))(_req, body, res);
  };
  reset(hubLike);
  const ids = Array.from({ length: 120 }, (_, i) => 1000 + i);
  const got = await client().getBuilds(ids, 50);
  assert.equal(seen.length, 3);
  assert.deepEqual(seen.map((s) => (s.body.match(/<string>getBuild<\/string>/g) ?? []).length), [50, 50, 20]);
  assert.equal(got.size, 120);
  assert.equal(got.get(1010), null);
  assert.equal(got.get(1011)?.nvr, 'p-1-1011');
  assert.equal(got.get(1011)?.state, BUILD_STATES.COMPLETE);
});

test('getBuild, getRPM and listRPMs send the Koji calls and shape the answers', async () => {
  reset(xml(ok('<value><nil/></value>')));
  assert.equal(await client().getBuild('bash-5.2-1.fc40'), null);
  assert.match(seen[0].body, /<methodName>getBuild<\/methodName><params><param><value><string>bash-5\.2-1\.fc40<\/string>/);

  const rpm = `<value><struct><member><name>id</name><value><int>9</int></value></member><member><name>name</name><value><string>bash</string></value></member><member><name>arch</name><value><string>x86_64</string></value></member><member><name>epoch</name><value><nil/></value></member><member><name>size</name><value><i8>5000000000</i8></value></member></struct></value>`;
  reset(xml(ok(`<value><array><data>${rpm}</data></array></value>`)));
  const rpms = await client().listRPMs(77);
  assert.deepEqual(rpms, [{ id: 9, name: 'bash', arch: 'x86_64', epoch: null, size: 5000000000 }]);
  assert.match(seen[0].body, /<methodName>listRPMs<\/methodName><params><param><value><struct><member><name>buildID<\/name><value><int>77<\/int><\/value><\/member><member><name>__starstar<\/name><value><boolean>1<\/boolean><\/value><\/member><\/struct>/);

  reset(xml(ok(rpm)));
  assert.equal((await client().getRPM('bash-5.2-1.fc40.x86_64'))?.id, 9);

  reset(xml(ok('<value><string>surprise</string></value>')));
  await assert.rejects(client().getBuild(3), /getBuild\(3\) gave an answer without a numeric id/);
});

test('build state names', () => {
  assert.equal(buildStateName(1), 'COMPLETE');
  assert.equal(buildStateName(4), 'CANCELED');
  assert.equal(buildStateName(9), 'STATE 9');
});

test('a hub that is not an http(s) URL is refused up front', () => {
  assert.throws(() => new KojiClient({ hub: 'ftp://koji.example/kojihub' }), /not an http\(s\) URL/);
  assert.throws(() => new KojiClient({ hub: 'koji.example' }), /not a URL/);
});

// ---- retry budget, Retry-After, ServerOffline, error pages ---------------------------------------

const page = (code: number, type: string | null, text: string, headers: Record<string, string> = {}): Handler => (_req, _body, res) => {
  res.writeHead(code, { ...(type ? { 'content-type': type } : {}), ...headers });
  res.end(text);
};

test('Retry-After (delta-seconds and HTTP-date) sets the wait, capped by what is left of the budget', async () => {
  const t = fakeTime();
  reset(page(503, 'text/plain', 'busy', { 'retry-after': '7' }), page(429, 'text/plain', 'slow down', { 'retry-after': '120' }), xml(ok('<value><int>3</int></value>')));
  assert.equal(await client({ retryTimeMs: 60_000, ...t }).call('x'), 3);
  assert.deepEqual(t.sleeps, [7000, 53_000], 'as asked, then only what was left of the minute');
  const t2 = fakeTime();
  const date = new Date(Date.now() + 4000).toUTCString(); // a wall-clock date, as servers send
  reset(page(503, 'text/html', '<title>down</title>', { 'retry-after': date }), xml(ok('<value><int>4</int></value>')));
  assert.equal(await client({ ...t2 }).call('x'), 4);
  assert.ok(t2.sleeps[0] >= 3000 && t2.sleeps[0] <= 4000, String(t2.sleeps));
});

test('ServerOffline (fault 1014) is waited for and retried, as koji\'s offline_retry does; other faults are not', async () => {
  reset(xml(fault(1014, 'database outage')), xml(fault(1014, 'database outage')), xml(ok('<value><int>5</int></value>')));
  const t = fakeTime();
  assert.equal(await client({ ...t }).call('getAPIVersion'), 5);
  assert.equal(seen.length, 3);
  assert.equal(t.sleeps.length, 2);

  reset(xml(fault(1014, 'database outage')));
  const err = await client({ retryTimeMs: 2000, backoffMs: 500, maxBackoffMs: 500, random: () => 1 }).getBuild(9).catch((e: unknown) => e);
  assert.ok(err instanceof KojiError);
  assert.equal(err.faultCode, 1014);
  assert.match(err.message, /^Koji hub http:\/\/127\.0\.0\.1:\d+\/kojihub: getBuild\(9\) failed: fault 1014: database outage \(the hub is offline\) after 5 attempts in 2 s$/);
});

test('ServerOffline inside a multicall: only the calls that got it are asked again', async () => {
  const good = (id: number) => `<value><array><data><value><struct><member><name>id</name><value><int>${id}</int></value></member></struct></value></data></array></value>`;
  const off = '<value><struct><member><name>faultCode</name><value><int>1014</int></value></member><member><name>faultString</name><value><string>Server disabled for maintenance</string></value></member></struct></value>';
  reset(
    xml(ok(`<value><array><data>${good(1)}${off}${good(3)}${off}</data></array></value>`)),
    xml(ok(`<value><array><data>${good(2)}${good(4)}</data></array></value>`)),
  );
  const got = await client().getBuilds([1, 2, 3, 4]);
  assert.deepEqual([...got].map(([id, b]) => [id, b?.id]), [[1, 1], [2, 2], [3, 3], [4, 4]]);
  assert.equal(seen.length, 2);
  assert.deepEqual([...seen[1].body.matchAll(/<int>(\d+)<\/int>/g)].map((m) => m[1]), ['2', '4'], 'only the offline calls are sent again');

  reset(xml(ok(`<value><array><data>${good(1)}${off}</data></array></value>`)), xml(ok(`<value><array><data>${off}</data></array></value>`)));
  const err = await client({ retryTimeMs: 0 }).getBuilds([1, 2]).catch((e: unknown) => e);
  assert.ok(err instanceof KojiError);
  assert.match(err.message, /multicall of 2 getBuild calls failed: 1 of its calls got fault 1014: Server disabled for maintenance \(the hub is offline\)$/);
});

test('error pages: one line from text/plain, an HTML title or heading, XML; never markup; no unhandled event', async () => {
  const unhandled: unknown[] = [];
  const onError = (e: unknown): void => { unhandled.push(e); };
  process.on('uncaughtException', onError);
  try {
    const apache = '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>503 Service Unavailable</title>\n</head><body>\n'
      + '<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to service your\nrequest due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n</body></html>\n';
    const cases: [Handler, RegExp][] = [
      [page(404, 'text/html; charset=iso-8859-1', '<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>The requested URL /kojihubb was not found on this server.</p></body></html>'),
        /gave HTTP 404 \(Not Found: The requested URL \/kojihubb was not found on this server\.\)$/],
      [page(403, 'text/html', `<html><head><title>Access denied &amp; logged</title></head><body>${'x'.repeat(300_000)}</body></html>`), /gave HTTP 403 \(Forbidden: Access denied & logged\)$/],
      [page(400, null, ''), /gave HTTP 400 \(Bad Request\)$/],
      [page(405, 'application/xml', '<?xml version="1.0"?><Error><Code>MethodNotAllowed</Code><Message>POST is not allowed here</Message></Error>'), /gave HTTP 405 \(Method Not Allowed: POST is not allowed here\)$/],
      [page(410, 'text/plain', '\n\x1b[31mgone\x1b[0m for good\nsecond line'), /gave HTTP 410 \(Gone: \[31mgone \[0m for good\)$/],
    ];
    for (const [h, re] of cases) {
      reset(h);
      const err = await client().call('x').catch((e: unknown) => e);
      assert.ok(err instanceof KojiError, String(err));
      assert.match(err.message, re);
      assert.doesNotMatch(err.message, /<|\x1b/);
      assert.equal(seen.length, 1, 'a 4xx is not retried');
    }
    const t = fakeTime();
    reset(page(503, 'text/html', apache), xml(ok('<value><int>6</int></value>')));
    const lines: string[] = [];
    assert.equal(await client({ outages: new OutageLog((l) => lines.push(l), { now: t.now }), ...t, backoffMs: 2000 }).call('x'), 6);
    assert.deepEqual(lines.map((l) => l.replace(/next try in [\d.]+ s/, 'next try in N s')), [
      `Koji hub ${hub}: HTTP 503 (Service Unavailable: The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.); waiting for it and retrying for up to 1 min (next try in N s)`,
      `Koji hub ${hub}: answering again after ${formatDuration(t.sleeps[0])}`,
    ]);
  } finally {
    process.off('uncaughtException', onError);
  }
  assert.deepEqual(unhandled, []);
});

test('an outage is said once however many calls wait on it, then once when it ends', async () => {
  let down = true;
  reset((req, body, res) => (down ? page(503, 'text/plain', 'maintenance')(req, body, res) : xml(ok('<value><int>7</int></value>'))(req, body, res)));
  const lines: string[] = [];
  const outages = new OutageLog((l) => lines.push(l), { quietMs: 0 });
  let sleeps = 0;
  const c = new KojiClient({ hub, dispatcher: agent, outages, backoffMs: 1, maxBackoffMs: 5, sleep: async (ms) => {
    if (++sleeps === 40) down = false;
    await new Promise((r) => setTimeout(r, ms));
  } });
  const values = await Promise.all(Array.from({ length: 8 }, () => c.call('x')));
  assert.deepEqual(values, Array(8).fill(7));
  assert.ok(sleeps >= 40);
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0], /: HTTP 503 \(Service Unavailable: maintenance\); waiting for it and retrying for up to [\d.]+ (s|min) \(next try in [\d.]+ s\)$/);
  assert.match(lines[1], /: answering again after [\d.]+ s$/);
});
