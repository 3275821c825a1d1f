/**
 * `charrnn serve`, end to end on 127.0.0.1: a tiny model trained here, served in-process (and,
 * for SIGTERM, by the real CLI in a child process). rnn-writer's request shape; the SSE stream
 * equals the POST sample of the same seed; hostile requests get 4xx or are cancelled and the
 * server keeps serving; a full queue gives 503 + Retry-After; the deadline and a client that
 * leaves free the worker; SIGTERM drains. Nothing is timed: waits poll /healthz, bounded by the
 * test's timeout.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveConfig, startServing, type ServeFlags } from '../cli/serve.js';
import { SERVE_DEFAULTS } from '../cli/serve/flags.js';
import { LINES_COUNT } from '../src/generate-options.js';
import { DRAIN_BYTES, type SampleServer } from '../cli/serve/http.js';
import { runCli, tinyCheckpoint } from './run-cli.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'charrnn.js');
/** Longer than any test waits: a job this long only ends by being cancelled. */
const ENDLESS = 10_000_000;

let dir: string;
let ckpt: string;

before(async () => {
  ({ dir, ckpt } = await tinyCheckpoint('charrnn-serve-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** An in-process server on a free port; flags as on the command line. */
async function serve(flags: ServeFlags = {}, recycleBytes?: number): Promise<SampleServer> {
  const c = serveConfig([`tiny=${ckpt}`], { ...SERVE_DEFAULTS, port: '0', workers: '2', backend: 'js', ...flags });
  c.http.checkIntervalMs = 100; // notice slow clients quickly
  if (recycleBytes !== undefined) c.recycleBytes = recycleBytes;
  return startServing(c);
}

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function post(s: SampleServer, body: unknown, signal?: AbortSignal): Promise<Reply> {
  const res = await fetch(`${s.url}/v1/sample`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, signal });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function get(s: SampleServer, path: string, init?: RequestInit): Promise<Reply> {
  const res = await fetch(`${s.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A 4xx answer: JSON {error, message} with a one-line message. */
function assertRefused(r: Reply, status: number, pattern?: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(typeof r.body.error, 'string');
  assert.match(String(r.body.message), /^[^\n]+$/);
  if (pattern) assert.match(String(r.body.message), pattern);
}

interface Health {
  ok: boolean;
  busy: number;
  queued: number;
  done: number;
  cancelled: number;
}

const health = async (s: SampleServer): Promise<Health> => (await get(s, '/healthz')).body as unknown as Health;

/** Poll /healthz until `ok(h)` (bounded by the test's timeout). */
async function until(s: SampleServer, ok: (h: Health) => boolean): Promise<Health> {
  for (;;) {
    const h = await health(s);
    if (ok(h)) return h;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Read an SSE response into its events. */
async function readEvents(res: Response, stopAfterFirstData = false): Promise<{ event: string; data: Record<string, unknown> }[]> {
  const events: { event: string; data: Record<string, unknown> }[] = [];
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]) as Record<string, unknown>;
      events.push({ event, data });
      if (stopAfterFirstData && event === 'message') {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}

test("rnn-writer's request shape is answered: GET / and GET /generate?start_text=&n=", { timeout: 30_000 }, async () => {
  const s = await serve();
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/); // this machine only, unless --host says otherwise
    const ping = await get(s, '/');
    assert.equal(ping.status, 200);
    assert.equal(typeof ping.body.message, 'string');
    // exactly as rnn-writer builds it: encodeURIComponent of the last characters typed
    const startText = 'the cat sat on the ';
    const r = await get(s, `/generate?start_text=${encodeURIComponent(startText)}&n=3`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    // rnn-writer drops replies whose start_text does not decode back to what it sent
    assert.equal(decodeURIComponent(String(r.body.start_text)).replace(/\+/g, ' '), startText);
    const completions = r.body.completions as string[];
    assert.ok(Array.isArray(completions) && completions.length === 3);
    for (const c of completions) {
      assert.equal(typeof c, 'string');
      // a continuation up to the end of a sentence, as torch-rnn-server's
      assert.ok(/[.!?]$/.test(c) || [...c].length === 140, JSON.stringify(c));
      assert.equal([...c.slice(0, -1)].filter((ch) => '.!?'.includes(ch)).length, 0, JSON.stringify(c));
    }
    assert.match(String(r.body.time), /^\d+\.\d\d$/);
    // torch-rnn-server caps n at 10; without n, one completion
    assert.equal(((await get(s, `/generate?start_text=the&n=50`)).body.completions as string[]).length, 10);
    assert.equal(((await get(s, `/generate?start_text=the`)).body.completions as string[]).length, 1);
    // torch-rnn-server answered 500 to a character outside the vocabulary; here it is skipped and listed
    const odd = await get(s, `/generate?start_text=${encodeURIComponent('The Cat é ')}&n=1`);
    assert.equal(odd.status, 200);
    assert.deepEqual(odd.body.skipped, ['T', 'C', 'é']);
    assertRefused(await get(s, '/generate?start_text=the&n=-1'), 400, /^n must be/);
  } finally {
    await s.shutdown(1000);
  }
});

test('the SSE stream equals the non-streamed sample for the same seed', { timeout: 30_000 }, async () => {
  const s = await serve();
  try {
    const ask = { prime: 'the dog ', length: 300, temperature: 0.9, top_k: 10, seed: 42 };
    const a = await post(s, ask);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const sample = (a.body.samples as { text: string; log_prob: number }[])[0];
    assert.equal([...sample.text].length, 300);
    const res = await fetch(`${s.url}/v1/sample/stream?prime=${encodeURIComponent(ask.prime)}&length=300&temperature=0.9&top_k=10&seed=42`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = await readEvents(res);
    assert.equal(events[0].event, 'start');
    assert.deepEqual(events[0].data, { model: 'tiny', seed: 42 });
    const chunks = events.filter((e) => e.event === 'message').map((e) => e.data.text as string);
    assert.ok(chunks.length >= 1);
    const done = events[events.length - 1];
    assert.equal(done.event, 'done');
    assert.equal(chunks.join(''), sample.text);
    assert.equal(done.data.text, sample.text);
    assert.equal(done.data.log_prob, sample.log_prob);
    // and the same seed again gives the same text (whichever worker runs it)
    assert.equal(((await post(s, ask)).body.samples as { text: string }[])[0].text, sample.text);
    // a request without a seed is told the one it got, and repeating it with that seed repeats the text
    const free = await post(s, { prime: 'the ', length: 50 });
    const again = await post(s, { prime: 'the ', length: 50, seed: free.body.seed });
    assert.deepEqual(again.body.samples, free.body.samples);
    // so is a stream, in its first event; a stop sequence typed in a query string reads \n as a newline
    const unseeded = await readEvents(await fetch(`${s.url}/v1/sample/stream?prime=the&length=300&stop=${encodeURIComponent('\\n')}&stop=og`));
    const seed = unseeded[0].data.seed as number;
    assert.ok(Number.isInteger(seed));
    const repeat = await post(s, { prime: 'the', length: 300, seed, stop: ['\n', 'og'] });
    const first = (repeat.body.samples as { text: string; stopped: string | null }[])[0];
    assert.equal(unseeded.at(-1)!.data.text, first.text);
    assert.equal(unseeded.at(-1)!.data.stopped, first.stopped);
  } finally {
    await s.shutdown(1000);
  }
});

test('stop, count, unique and beam reach the library; its answers come back per sample', { timeout: 30_000 }, async () => {
  const s = await serve();
  try {
    type Sample = { text: string; log_prob: number; stopped: string | null };
    const stopped = await post(s, { prime: 'the ', length: 400, stop: ['.', ' dog'], count: 4, seed: 9 });
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    const samples = stopped.body.samples as Sample[];
    assert.equal(samples.length, 4);
    for (const x of samples) {
      if (x.stopped === null) assert.equal([...x.text].length, 400);
      else assert.ok(x.text.endsWith(x.stopped), JSON.stringify(x));
    }
    const unique = (await post(s, { prime: 'the ', length: 3, count: 8, unique: true, seed: 2 })).body.samples as Sample[];
    assert.equal(new Set(unique.map((x) => x.text)).size, unique.length);
    const beams = await post(s, { prime: 'the ', length: 12, beam: 4, count: 3 });
    assert.equal(beams.status, 200, JSON.stringify(beams.body));
    const best = beams.body.samples as Sample[];
    assert.equal(best.length, 3);
    assert.equal(new Set(best.map((x) => x.text)).size, 3);
    for (const x of best) assert.ok(Number.isFinite(x.log_prob));
    assertRefused(await post(s, { beam: 2, count: 5 }), 400, /^count 5 is more than beam 2/);
  } finally {
    await s.shutdown(1000);
  }
});

test('a lines model serves items: each sample one line, ended by its newline; /v1/models says so', { timeout: 30_000 }, async () => {
  const names = 'anna\nbob\ncarl\ndora\nemma\nfrank\ngina\nhugo\nida\njohn\nkate\nliam\nmia\nnoah\nolga\npaul\n'.repeat(4);
  const lines = await tinyCheckpoint('charrnn-serve-lines-', names, ['--lines']);
  const c = serveConfig([`names=${lines.ckpt}`, `tiny=${ckpt}`], { ...SERVE_DEFAULTS, port: '0', workers: '1', backend: 'js' });
  const s = await startServing(c);
  try {
    const models = (await get(s, '/v1/models')).body.models as { name: string; lines: boolean }[];
    assert.deepEqual(models.map((m) => [m.name, m.lines]), [['names', true], ['tiny', false]]);
    const r = await post(s, { model: 'names', count: 6, length: 40, seed: 3 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    for (const x of r.body.samples as { text: string; stopped: string | null }[]) {
      assert.ok(!x.text.includes('\n'), JSON.stringify(x));
      assert.ok(x.stopped === '\n' || [...x.text].length === 40, JSON.stringify(x));
    }
    // without a count: the library's LINES_COUNT items (within --max-count); a stream gives one
    assert.equal(((await post(s, { model: 'names', length: 40, seed: 3 })).body.samples as unknown[]).length, LINES_COUNT);
    const one = await readEvents(await fetch(`${s.url}/v1/sample/stream?model=names&length=40&seed=3`));
    assert.equal(one.at(-1)!.event, 'done');
    assert.ok(!String(one.at(-1)!.data.text).includes('\n'));
  } finally {
    await s.shutdown(1000);
  }
  const capped = await startServing(serveConfig([`names=${lines.ckpt}`], { ...SERVE_DEFAULTS, port: '0', workers: '1', backend: 'js', maxCount: '4' }));
  try {
    assert.equal(((await post(capped, { length: 20, seed: 1 })).body.samples as unknown[]).length, 4);
  } finally {
    await capped.shutdown(1000);
    rmSync(lines.dir, { recursive: true, force: true });
  }
});

/** A raw HTTP request (fetch refuses some of what a hostile client sends). */
function raw(s: SampleServer, method: string, path: string, body?: Buffer | string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${s.url}${path}`, { method }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A client that writes its whole request before it reads a byte (as Python's urllib does): a
 * plain socket; its answer's head and body. It fails if writing fails (a broken pipe, a reset).
 */
function writeAllThenRead(s: SampleServer, head: string, body: Buffer): Promise<{ head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(s.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', reject);
    socket.write(head);
    socket.write(body, (e) => {
      if (e) return reject(e);
      const got: Buffer[] = [];
      socket.on('data', (c: Buffer) => got.push(c));
      socket.on('end', () => {
        const text = Buffer.concat(got).toString('utf8');
        const at = text.indexOf('\r\n\r\n');
        resolve({ head: text.slice(0, at), body: text.slice(at + 4) });
        socket.end();
      });
    });
  });
}

test('a body over --max-body is read and dropped, then answered 413 in JSON: a socket that writes 5 MB first, and fetch, read it; the server goes on', { timeout: 60_000 }, async () => {
  const s = await serve(); // --max-body 1 MiB
  try {
    const body = Buffer.alloc(5 << 20, 'a');
    const post413 = (length: number): string => `POST /v1/sample HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    const sock = await writeAllThenRead(s, post413(body.length), body);
    assert.match(sock.head, /^HTTP\/1\.1 413 /);
    assert.match(sock.head, /^connection: close$/im);
    assert.deepEqual(JSON.parse(sock.body), { error: 'too_large', message: "the body is over this server's limit of 1048576 bytes" });
    const f = await fetch(`${s.url}/v1/sample`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    assert.equal(f.status, 413);
    assert.equal(((await f.json()) as { error: string }).error, 'too_large');
    // without a length (chunked), the same
    const chunked = await fetch(`${s.url}/v1/sample`, { method: 'POST', body: new Blob([body]).stream(), duplex: 'half' } as RequestInit);
    assert.equal(chunked.status, 413);
    assert.equal(((await chunked.json()) as { error: string }).error, 'too_large');
    // declared past the drain limit: not read on; answered at once and closed
    const huge = await writeAllThenRead(s, post413(DRAIN_BYTES + 1), Buffer.alloc(0));
    assert.match(huge.head, /^HTTP\/1\.1 413 /);
    assert.equal((JSON.parse(huge.body) as { error: string }).error, 'too_large');
    // a GET with a body: read, dropped, refused
    const getBody = await writeAllThenRead(s, `GET /v1/models HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n`, body);
    assert.match(getBody.head, /^HTTP\/1\.1 413 /);
    // still serving
    assert.equal((await post(s, { length: 10 })).status, 200);
    assert.equal((await health(s)).ok, true);
    // the limit docs/serve.md states is the code's
    assert.match(readFileSync(join(ROOT, 'docs', 'serve.md'), 'utf8'), new RegExp(`read and dropped to its end, up to ${DRAIN_BYTES / 2 ** 20} MiB in all`));
  } finally {
    await s.shutdown(1000);
  }
});

test('hostile requests get 4xx with one line and the server stays up', { timeout: 60_000 }, async () => {
  const s = await serve();
  try {
    assertRefused(await post(s, '{"prime": "the",'), 400, /not valid JSON/);
    assertRefused(await post(s, ''), 400, /empty/);
    assertRefused(await post(s, '[1, 2]'), 400, /JSON object/);
    assertRefused(await post(s, { length: -5 }), 400, /^length must be a whole number ≥ 0/);
    assertRefused(await post(s, { length: 'lots' }), 400, /^length must be a number/);
    assertRefused(await post(s, { length: 10 ** 9 }), 400, /--max-length/);
    assertRefused(await post(s, { temperature: -1 }), 400, /^temperature must be ≥ 0/);
    assertRefused(await post(s, { top_p: 0 }), 400, /^top_p must be in \(0, 1\]/);
    assertRefused(await post(s, { seed: 1.5 }), 400, /^seed/);
    assertRefused(await post(s, { count: 1000 }), 400, /--max-count/);
    assertRefused(await post(s, { stop: [1] }), 400, /^stop must be/);
    assertRefused(await post(s, { topk: 3 }), 400, /unknown field "topk"/);
    assertRefused(await post(s, { model: 'shakespeare' }), 404, /no model named "shakespeare"; this server has "tiny"/);
    assertRefused(await post(s, { prime: 'the '.repeat(5000) }), 400, /--max-prime/);
    // a 10 MB prime: in a body, over the body cap (413, read and dropped); in a URL, over node's header cap
    const big = await raw(s, 'POST', '/v1/sample', JSON.stringify({ prime: 'a'.repeat(10 << 20) }));
    assert.equal(big.status, 413);
    assert.match(JSON.parse(big.body).message, /over this server's limit/);
    const longUrl = await raw(s, 'GET', `/v1/sample/stream?prime=${'a'.repeat(10 << 20)}`);
    assert.ok(longUrl.status === 431, `status ${longUrl.status}`);
    assertRefused(await get(s, '/v1/sample/stream?length=abc'), 400, /^length must be a number/);
    assertRefused(await get(s, '/v1/sample/stream?count=2'), 400, /one sample/);
    assertRefused(await get(s, '/v1/sample/stream?model=nope'), 404);
    assertRefused(await get(s, '/v1/sample'), 405);
    assertRefused(await get(s, '/admin'), 404);
    // unknown characters in a prime are skipped and reported, never an error
    const odd = await post(s, { prime: 'Zebra ☃ the ', length: 20, seed: 1 });
    assert.equal(odd.status, 200, JSON.stringify(odd.body));
    assert.deepEqual(odd.body.skipped, ['Z', '☃']);
    assert.equal(odd.body.prime, 'ebra  the ');
    // still serving, nothing failed inside
    const h = await health(s);
    assert.equal(h.ok, true);
    assert.equal((h as unknown as { failed: number }).failed, 0);
    assert.equal((await post(s, { length: 10 })).status, 200);
  } finally {
    await s.shutdown(1000);
  }
});

test('a slow client does not hold up others and is dropped at --request-timeout', { timeout: 30_000 }, async () => {
  const s = await serve({ requestTimeout: '1' });
  try {
    const { port } = new URL(s.url);
    const sock = connect(Number(port), '127.0.0.1');
    const closed = new Promise<string>((resolve) => {
      let got = '';
      sock.on('data', (d) => (got += d.toString()));
      sock.on('close', () => resolve(got));
      sock.on('error', () => {});
    });
    // headers, then a body that never finishes
    sock.write('POST /v1/sample HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"prime": "the');
    assert.equal((await post(s, { length: 20 })).status, 200);
    const answer = await closed; // the server gives up on it
    assert.match(answer, /^HTTP\/1.1 408/);
    assert.equal((await health(s)).ok, true);
  } finally {
    await s.shutdown(1000);
  }
});

test('a client that disconnects mid-stream, or before its answer, is cancelled: the worker stops', { timeout: 60_000 }, async () => {
  const s = await serve({ maxLength: String(ENDLESS) });
  try {
    const before = await health(s);
    const res = await fetch(`${s.url}/v1/sample/stream?length=${ENDLESS}&seed=3`);
    const first = await readEvents(res, true); // the start event and one chunk of text, then hang up
    assert.equal(first[first.length - 1].event, 'message');
    let h = await until(s, (x) => x.busy === 0);
    assert.equal(h.cancelled, before.cancelled + 1);
    assert.equal(h.done, before.done);
    // a POST whose client gives up while it generates
    const ctl = new AbortController();
    const pending = post(s, { length: ENDLESS }, ctl.signal).catch((e: Error) => e);
    await until(s, (x) => x.busy === 1);
    ctl.abort();
    assert.ok((await pending) instanceof Error);
    h = await until(s, (x) => x.busy === 0);
    assert.equal(h.cancelled, before.cancelled + 2);
    assert.equal((await post(s, { length: 10 })).status, 200);
  } finally {
    await s.shutdown(1000);
  }
});

test('a full queue gives 503 with Retry-After; the deadline cancels a long request', { timeout: 60_000 }, async () => {
  const s = await serve({ workers: '1', queue: '1', maxLength: String(ENDLESS), deadline: '30' });
  try {
    const ctl = new AbortController();
    const running = post(s, { length: ENDLESS }, ctl.signal).catch((e: Error) => e);
    await until(s, (h) => h.busy === 1);
    const waiting = post(s, { length: ENDLESS }, ctl.signal).catch((e: Error) => e);
    await until(s, (h) => h.queued === 1);
    const full = await post(s, { length: 10 });
    assertRefused(full, 503, /busy/);
    assert.equal(full.headers.get('retry-after'), '1');
    ctl.abort();
    await Promise.all([running, waiting]);
    await until(s, (h) => h.busy === 0 && h.queued === 0);
    assert.equal((await post(s, { length: 10 })).status, 200);
  } finally {
    await s.shutdown(1000);
  }
  const d = await serve({ maxLength: String(ENDLESS), deadline: '0.3' });
  try {
    const late = await post(d, { length: ENDLESS });
    assertRefused(late, 503, /deadline of 0.3 s/);
    assert.equal((await health(d)).busy, 0);
  } finally {
    await d.shutdown(1000);
  }
});

test('workers whose memory grew are replaced without failing or changing a request', { timeout: 60_000 }, async () => {
  // a budget of 0 bytes: every request recycles its worker
  const s = await serve({ backend: 'wasm' }, 0);
  try {
    const ask = { prime: 'the ', length: 100, seed: 11 };
    const first = (await post(s, ask)).body.samples;
    const replies = await Promise.all(Array.from({ length: 12 }, () => post(s, ask)));
    for (const r of replies) {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.samples, first);
    }
    const h = (await health(s)) as unknown as { recycled: number; failed: number; done: number };
    assert.ok(h.recycled >= 2, `recycled ${h.recycled}`);
    assert.equal(h.failed, 0);
    assert.equal(h.done, 13);
  } finally {
    await s.shutdown(1000);
  }
});

test('CORS headers only with --cors ORIGIN', { timeout: 30_000 }, async () => {
  const plain = await serve();
  try {
    const r = await get(plain, '/v1/models');
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    assert.deepEqual((r.body.models as { name: string }[]).map((m) => m.name), ['tiny']);
  } finally {
    await plain.shutdown(1000);
  }
  const open = await serve({ cors: 'http://localhost:3000' });
  try {
    const r = await get(open, '/v1/models');
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    const pre = await fetch(`${open.url}/v1/sample`, { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  } finally {
    await open.shutdown(1000);
  }
});

test('serve: bad flags and bad checkpoints are one-line errors', { timeout: 30_000 }, async () => {
  const cases: [string[], number, RegExp][] = [
    [['serve', ckpt, '--port', '99999'], 2, /--port must be a whole number from 0 to 65535/],
    [['serve', ckpt, '--workers', '-1'], 2, /--workers/],
    [['serve', ckpt, '--cors', 'localhost'], 2, /--cors must be an origin/],
    [['serve', ckpt, ckpt], 2, /two models are named "latest"/],
    [['serve', join(dir, 'missing.safetensors'), '--port', '0', '--backend', 'js'], 1, /cannot read checkpoint .*missing\.safetensors/],
    [['serve', join(dir, 'corpus.txt'), '--port', '0', '--backend', 'js'], 1, /corpus\.txt/],
  ];
  for (const [args, code, pattern] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^charrnn: [^\n]+\n$/);
    assert.doesNotMatch(r.stderr, /internal error/);
    assert.match(r.stderr, pattern);
  }
});

/** Start the real CLI; resolves with the child and the URL it printed. */
async function spawnServe(args: string[]): Promise<{ child: ReturnType<typeof spawn>; url: string; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve', ckpt, '--port', '0', '--backend', 'js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr, exited };
}

test('SIGTERM drains: an in-flight stream finishes, new connections are refused, exit 0', { timeout: 60_000 }, async () => {
  const { child, url, stderr, exited } = await spawnServe(['--workers', '1', '--max-length', '100000', '--drain', '30']);
  const res = await fetch(`${url}/v1/sample/stream?length=100000&seed=5`);
  const reader = res.body!.getReader();
  await reader.read(); // under way
  child.kill('SIGTERM');
  const dec = new TextDecoder();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += dec.decode(value, { stream: true });
  }
  const last = /event: done\ndata: (.*)\n\n$/.exec(rest);
  assert.ok(last, `the stream ended with its done event: ${rest.slice(-200)}`);
  assert.equal([...(JSON.parse(last[1]) as { text: string }).text].length, 100000);
  assert.equal(await exited, 0, stderr());
  assert.match(stderr(), /1 request finished while draining, 0 cancelled/);
  await assert.rejects(fetch(`${url}/healthz`)); // no longer listening
});

test('SIGTERM past --drain cancels what is left (503) and exits 0', { timeout: 60_000 }, async () => {
  const { child, url, stderr, exited } = await spawnServe(['--workers', '1', '--max-length', String(ENDLESS), '--drain', '0.2']);
  const pending = fetch(`${url}/v1/sample`, { method: 'POST', body: JSON.stringify({ length: ENDLESS }) });
  for (;;) {
    const h = (await (await fetch(`${url}/healthz`)).json()) as Health;
    if (h.busy === 1) break;
  }
  child.kill('SIGTERM');
  const res = await pending;
  assert.equal(res.status, 503);
  assert.match(((await res.json()) as { message: string }).message, /shutting down/);
  assert.equal(await exited, 0, stderr());
  assert.match(stderr(), /0 requests finished while draining, 1 cancelled/);
});
