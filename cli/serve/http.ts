/**
 * The HTTP side of `charrnn serve`, on node:http (see docs/serve.md for the API).
 *
 *   GET  /                     {"message"}: rnn-writer pings it when switched on
 *   GET  /generate             torch-rnn-server's API: ?start_text=&n= → {start_text, completions, time}
 *   POST /v1/sample            JSON in, JSON out: {model, seed, prime, skipped, samples: [{text, log_prob, stopped}]}
 *   GET  /v1/sample/stream     the same fields as query parameters; characters as Server-Sent Events
 *   GET  /v1/models            the models served
 *   GET  /healthz              {ok, workers, busy, queued, ...}; ok is false while shutting down
 *
 * Every answer that is not 2xx is JSON {"error", "message"} with a one-line message (rnn-writer
 * shows `message` to its user). Nothing a client sends can crash the server: the body is capped,
 * JSON and numbers are checked before a job is queued, unknown prime characters are skipped and
 * listed, and an exception escaping a handler becomes a 500 for that request only.
 *
 * node:http rather than a framework: the server has six routes, one body type and no templating;
 * what a framework would bring (routing, schema validation) is a table and one function here
 * (request.ts), while SSE, cancellation on disconnect and draining need node:http's own objects
 * (res 'close', server.close/closeIdleConnections) either way.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JobFailed, Pool, QueueFull, type RunningJob } from './pool.js';
import { AbortReason, type JobResult, type JobSpec } from './protocol.js';
import type { Limits } from './flags.js';
import { HttpError, parseSampleBody, parseSampleQuery, queryNumber } from './request.js';

export interface ServeOptions {
  host: string;
  port: number;
  limits: Limits;
  /** Allowed origin for CORS ('*' = any); undefined = no CORS headers at all. */
  cors?: string;
  /** Largest request body, in bytes. */
  maxBody: number;
  /** How often node checks request and header timeouts (ms); small in tests. */
  checkIntervalMs?: number;
  /** Seconds a client has to send its headers and body. */
  requestTimeout: number;
}

/** torch-rnn-server: at most 10 completions, each up to 140 characters, ending at . ! or ?. */
const RNN_WRITER = { maxN: 10, length: 140, temperature: 0.7, stop: ['.', '!', '?'] };

/** A body past the cap is read (and thrown away) up to this much, so the client sees the 413. */
const DRAIN_BYTES = 64 << 20;

const randomSeed = (): number => Math.floor(Math.random() * 2 ** 32);

export class SampleServer {
  private draining = false;
  private readonly live = new Set<RunningJob>();

  private constructor(readonly server: Server, readonly pool: Pool, readonly opts: ServeOptions) {}

  /** Listen; throws like server.listen (EADDRINUSE...). */
  static async start(pool: Pool, opts: ServeOptions): Promise<SampleServer> {
    const server = createServer({
      requestTimeout: opts.requestTimeout * 1000,
      headersTimeout: Math.min(opts.requestTimeout, 10) * 1000,
      connectionsCheckingInterval: opts.checkIntervalMs ?? 1000,
      keepAliveTimeout: 5000,
    });
    const s = new SampleServer(server, pool, opts);
    server.on('request', (req, res) => void s.handle(req, res));
    server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
      // a malformed request line or headers, headers over node's 16 KB cap (a 10 MB URL), or a
      // client too slow to send its request: answer if the socket can still take it, and drop it
      const status = e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
    });
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(opts.port, opts.host, () => {
        server.off('error', fail);
        ok();
      });
    });
    return s;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /**
   * Graceful shutdown: stop listening, let in-flight requests finish for up to `drainMs`,
   * cancel what is left (their clients get a 503 or an SSE error event), then stop the workers.
   */
  async shutdown(drainMs: number): Promise<{ finished: number; cancelled: number }> {
    this.draining = true;
    this.pool.stopAccepting();
    const closed = new Promise<void>((ok) => this.server.close(() => ok()));
    this.server.closeIdleConnections();
    const before = this.pool.stats();
    const deadline = Date.now() + drainMs;
    while (this.pool.inFlight > 0 && Date.now() < deadline) await sleep(20);
    this.pool.cancelAll(AbortReason.Shutdown);
    // cancelled jobs answer within a character; give their responses a moment to go out
    const grace = Date.now() + 2000;
    while (this.live.size > 0 && Date.now() < grace) await sleep(10);
    this.server.closeAllConnections();
    await closed;
    await this.pool.close();
    const after = this.pool.stats();
    return { finished: after.done - before.done, cancelled: after.cancelled - before.cancelled };
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { 'X-Content-Type-Options': 'nosniff', ...extra };
    if (this.opts.cors !== undefined) {
      h['Access-Control-Allow-Origin'] = this.opts.cors;
      if (this.opts.cors !== '*') h.Vary = 'Origin';
    }
    if (this.draining) h.Connection = 'close';
    return h;
  }

  private json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, this.headers({ 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), ...extra }));
    res.end(text);
  }

  private fail(res: ServerResponse, e: unknown): void {
    if (res.headersSent) {
      // a stream already under way: say so in the stream, and end it
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      res.end(sse('error', { error: errorName(e instanceof HttpError || e instanceof JobFailed ? e.status : 500), message: msg }));
      return;
    }
    if (e instanceof HttpError) return this.json(res, e.status, { error: errorName(e.status), message: e.message }, e.headers);
    if (e instanceof QueueFull) return this.json(res, 503, { error: 'busy', message: `${e.message}; try again shortly` }, { 'Retry-After': '1' });
    if (e instanceof JobFailed) return this.json(res, e.status, { error: errorName(e.status), message: e.message });
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    this.json(res, 500, { error: 'internal', message: `internal error: ${msg}` });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = `${req.method} ${url.pathname}`;
      if (this.draining && url.pathname !== '/healthz') throw new HttpError(503, 'the server is shutting down', { 'Retry-After': '5' });
      if (req.method === 'OPTIONS' && this.opts.cors !== undefined) {
        res.writeHead(204, this.headers({ 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '600' }));
        res.end();
        return;
      }
      if (req.method !== 'POST' && req.headers['content-length'] && req.headers['content-length'] !== '0') throw new HttpError(413, `${req.method} requests take no body`);
      switch (route) {
        case 'GET /':
          return this.json(res, 200, { message: `charrnn serve: ${this.pool.models.map((m) => m.name).join(', ')}` });
        case 'GET /healthz':
          return this.json(res, this.draining ? 503 : 200, { ok: !this.draining, ...this.pool.stats() });
        case 'GET /v1/models':
          return this.json(res, 200, { models: this.pool.models });
        case 'POST /v1/sample':
          return await this.sample(req, res);
        case 'GET /v1/sample/stream':
          return await this.stream(url, res);
        case 'GET /generate':
          return await this.generate(url, res);
      }
      const known = ['/', '/healthz', '/v1/models', '/v1/sample', '/v1/sample/stream', '/generate'];
      if (known.includes(url.pathname)) throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}`);
      throw new HttpError(404, `no such endpoint ${url.pathname}; see /v1/models, /v1/sample, /v1/sample/stream, /generate, /healthz`);
    } catch (e) {
      this.fail(res, e);
    }
  }

  /** The model a request names (default: the first served), or 404. */
  private modelName(name: string | undefined): string {
    if (name === undefined) return this.pool.models[0].name;
    if (!this.pool.models.some((m) => m.name === name)) {
      throw new HttpError(404, `no model named ${JSON.stringify(name.slice(0, 100))}; this server has ${this.pool.models.map((m) => JSON.stringify(m.name)).join(', ')}`);
    }
    return name;
  }

  /**
   * Run a job on the pool for this response: cancelled if the client disconnects before the
   * answer is complete, or when the deadline passes.
   */
  private async runJob(res: ServerResponse, job: JobSpec, onChunk?: (text: string) => void): Promise<JobResult> {
    const running = this.pool.run(job, onChunk); // throws QueueFull
    this.live.add(running);
    const onClose = (): void => {
      if (!res.writableFinished) running.cancel(AbortReason.ClientGone);
    };
    res.on('close', onClose);
    const timer = setTimeout(() => running.cancel(AbortReason.Deadline), this.opts.limits.deadline * 1000);
    try {
      return await running.done;
    } finally {
      clearTimeout(timer);
      res.off('close', onClose);
      this.live.delete(running);
    }
  }

  /** A cancelled job, as an error to answer with (never called for a client that left). */
  private abortError(reason: AbortReason): HttpError {
    if (reason === AbortReason.Deadline) {
      return new HttpError(503, `the request ran past this server's deadline of ${this.opts.limits.deadline} s (--deadline); ask for fewer or shorter samples`, { 'Retry-After': '1' });
    }
    return new HttpError(503, 'the server is shutting down', { 'Retry-After': '5' });
  }

  private async sample(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req, res, this.opts.maxBody);
    const { model, req: g } = parseSampleBody(body, this.opts.limits, randomSeed);
    const name = this.modelName(model);
    const t0 = performance.now();
    const r = await this.runJob(res, { model: name, req: g, stream: false });
    if (r.aborted === AbortReason.ClientGone) return;
    if (r.aborted !== AbortReason.None) throw this.abortError(r.aborted);
    this.json(res, 200, {
      model: name,
      seed: g.seed,
      prime: r.prime,
      skipped: r.skipped,
      samples: r.samples.map((s) => ({ text: s.text, log_prob: finiteOrNull(s.logProb), stopped: s.stopped })),
      time_ms: Math.round(performance.now() - t0),
    });
  }

  /**
   * Server-Sent Events: `event: start` {model, seed}; then one `data:` event {"text"} per chunk
   * of characters as they are drawn; then `event: done` {text, log_prob, stopped, prime,
   * skipped}, or `event: error` {error, message} if cancelled. Same seed, same text as POST.
   */
  private async stream(url: URL, res: ServerResponse): Promise<void> {
    const { model, req: g } = parseSampleQuery(url.searchParams, this.opts.limits, randomSeed);
    if ((g.count ?? 1) !== 1 || (g.beam ?? 0) >= 2) throw new HttpError(400, 'the stream gives one sample, drawn: leave out count and beam (or use POST /v1/sample)');
    const name = this.modelName(model);
    let started = false;
    const begin = (): void => {
      if (started) return;
      started = true;
      res.writeHead(200, this.headers({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' }));
      res.write(sse('start', { model: name, seed: g.seed }));
    };
    const r = await this.runJob(res, { model: name, req: g, stream: true }, (text) => {
      begin();
      res.write(sse(undefined, { text }));
    });
    if (r.aborted === AbortReason.ClientGone) return;
    if (r.aborted !== AbortReason.None && !started) throw this.abortError(r.aborted);
    begin();
    if (r.aborted !== AbortReason.None) {
      const e = this.abortError(r.aborted);
      res.end(sse('error', { error: errorName(e.status), message: e.message }));
      return;
    }
    const s = r.samples[0];
    res.end(sse('done', { text: s.text, log_prob: finiteOrNull(s.logProb), stopped: s.stopped, prime: r.prime, skipped: r.skipped }));
  }

  /**
   * torch-rnn-server's /generate, as rnn-writer calls it: `start_text` is echoed exactly as it
   * came in the URL (still percent-encoded: rnn-writer decodes it and drops replies whose
   * start text is not its current one), `completions` continue it (the start text is not
   * repeated) up to the end of a sentence, `time` is seconds as a string with two decimals.
   */
  private async generate(url: URL, res: ServerResponse): Promise<void> {
    const raw = /(?:^|[?&])start_text=([^&]*)/.exec(url.search)?.[1] ?? '';
    const start = (url.searchParams.get('start_text') ?? '').replace(/\r\n/g, '\n');
    const nRaw = url.searchParams.get('n');
    let n = nRaw === null ? 1 : queryNumber('n', nRaw);
    if (!Number.isInteger(n) || n < 1) throw new HttpError(400, `n must be a whole number ≥ 1 (got ${nRaw})`);
    n = Math.min(n, RNN_WRITER.maxN, this.opts.limits.maxCount);
    const name = this.modelName(url.searchParams.get('model') ?? undefined);
    const query = new URLSearchParams({ prime: start, length: String(Math.min(RNN_WRITER.length, this.opts.limits.maxLength)), temperature: String(RNN_WRITER.temperature), count: String(n) });
    for (const s of RNN_WRITER.stop) query.append('stop', s);
    const { req: g } = parseSampleQuery(query, this.opts.limits, randomSeed);
    const t0 = performance.now();
    const r = await this.runJob(res, { model: name, req: g, stream: false });
    if (r.aborted === AbortReason.ClientGone) return;
    if (r.aborted !== AbortReason.None) throw this.abortError(r.aborted);
    const time = ((performance.now() - t0) / 1000).toFixed(2);
    this.json(res, 200, { start_text: raw, completions: r.samples.map((s) => s.text), time, skipped: r.skipped });
  }
}

/** One Server-Sent Event; JSON data, so newlines in the text never break the framing. */
function sse(event: string | undefined, data: unknown): string {
  return `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

function errorName(status: number): string {
  return ({ 400: 'bad_request', 404: 'not_found', 405: 'method_not_allowed', 413: 'too_large', 503: 'unavailable' } as Record<number, string>)[status] ?? (status >= 500 ? 'internal' : 'bad_request');
}

/** Read the body (at most maxBody bytes) and parse it as JSON; 413 / 400 otherwise. */
async function readJson(req: IncomingMessage, res: ServerResponse, maxBody: number): Promise<unknown> {
  const tooBig = (): HttpError => {
    // keep reading (and dropping) so the client gets to read the 413 instead of a reset
    let drained = 0;
    req.on('data', (c: Buffer) => {
      drained += c.length;
      if (drained > DRAIN_BYTES) req.destroy();
    });
    res.setHeader('Connection', 'close');
    return new HttpError(413, `the body is over this server's limit of ${maxBody} bytes`);
  };
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBody) throw tooBig();
  const chunks: Buffer[] = [];
  let size = 0;
  const over = await new Promise<boolean>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > maxBody) {
        req.off('data', onData);
        req.off('end', onEnd);
        resolve(true);
      } else chunks.push(c);
    };
    const onEnd = (): void => resolve(false);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
    // a client that hangs up mid-body (after 'end' this settles nothing)
    req.once('close', () => reject(new HttpError(400, 'the client closed the connection before the body ended')));
  });
  if (over) throw tooBig();
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'the body is empty; send a JSON object such as {"prime": "The ", "length": 200}');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `the body is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
