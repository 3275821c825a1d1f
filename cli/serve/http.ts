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
import { countFor } from '../../src/generate.js';
import { GENERATION_DEFAULTS } from '../../src/generate-options.js';
import { JobFailed, Pool, QueueFull, type RunningJob, type StreamEvents } from './pool.js';
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

/**
 * A body over --max-body is read and dropped up to this many bytes in all, then answered with
 * 413 and the connection closed: a client that writes its whole body before it reads (Python's
 * urllib) then reads the 413 instead of a broken pipe. A body declared (Content-Length) or sent
 * past this is not read on: 413 and the connection closed at once (such a client may see a reset).
 */
export const DRAIN_BYTES = 64 << 20;

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
      if (req.method !== 'POST' && req.headers['content-length'] && req.headers['content-length'] !== '0') {
        await readBody(req, 0); // read and dropped, so the client reads the answer
        throw tooLarge(`${req.method} requests take no body`);
      }
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
  private async runJob(res: ServerResponse, job: JobSpec, events?: StreamEvents): Promise<JobResult> {
    const running = this.pool.run(job, events); // throws QueueFull
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
    const body = await readJson(req, this.opts.maxBody);
    const { model, req: g } = parseSampleBody(body, this.opts.limits);
    const name = this.modelName(model);
    // the library's count (a lines model: its items), within this server's cap
    g.count ??= Math.min(countFor(g, g.lines ?? this.pool.models.find((m) => m.name === name)!.lines), this.opts.limits.maxCount);
    const t0 = performance.now();
    const r = await this.runJob(res, { model: name, req: g, stream: false });
    if (r.aborted === AbortReason.ClientGone) return;
    if (r.aborted !== AbortReason.None) throw this.abortError(r.aborted);
    this.json(res, 200, {
      model: name,
      seed: r.seed,
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
    const { model, req: g } = parseSampleQuery(url.searchParams, this.opts.limits);
    if ((g.count ?? 1) !== 1 || (g.beam ?? 0) >= 2) throw new HttpError(400, 'the stream gives one sample, drawn: leave out count and beam (or use POST /v1/sample)');
    g.count = 1; // also of a lines model (one item)
    const name = this.modelName(model);
    let started = false;
    const begin = (seed: number | null): void => {
      if (started) return;
      started = true;
      res.writeHead(200, this.headers({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' }));
      res.write(sse('start', { model: name, seed }));
    };
    const r = await this.runJob(res, { model: name, req: g, stream: true }, {
      onStart: begin, // the request is checked and its seed made: the stream begins
      onChunk: (text) => res.write(sse(undefined, { text })),
    });
    if (r.aborted === AbortReason.ClientGone) return;
    if (r.aborted !== AbortReason.None && !started) throw this.abortError(r.aborted);
    begin(r.seed);
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
    const writer = GENERATION_DEFAULTS.rnnWriter;
    n = Math.min(n, writer.maxCount, this.opts.limits.maxCount);
    const name = this.modelName(url.searchParams.get('model') ?? undefined);
    const query = new URLSearchParams({ prime: start, length: String(Math.min(writer.length, this.opts.limits.maxLength)), temperature: String(writer.temperature), count: String(n) });
    for (const s of writer.stop) query.append('stop', s);
    const { req: g } = parseSampleQuery(query, this.opts.limits);
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
async function readJson(req: IncomingMessage, maxBody: number): Promise<unknown> {
  const body = await readBody(req, maxBody);
  if (body === null) throw tooLarge(`the body is over this server's limit of ${maxBody} bytes`);
  const text = body.toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'the body is empty; send a JSON object such as {"prime": "The ", "length": 200}');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `the body is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * The body, or null when it is over `maxBody` bytes: then the rest has been read and dropped,
 * up to DRAIN_BYTES in all, so that the client gets to read the answer (see DRAIN_BYTES). A
 * client that hangs up mid-body is a 400 (no one reads it).
 */
function readBody(req: IncomingMessage, maxBody: number): Promise<Buffer | null> {
  if (Number(req.headers['content-length']) > DRAIN_BYTES) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= maxBody) chunks.push(c);
      else if (size > DRAIN_BYTES) {
        settle();
        req.pause();
        resolve(null);
      } else chunks.length = 0; // over: dropped from now on
    };
    const onEnd = (): void => {
      settle();
      resolve(size > maxBody ? null : Buffer.concat(chunks));
    };
    const onError = (e: Error): void => {
      settle();
      reject(e);
    };
    const onClose = (): void => {
      settle();
      reject(new HttpError(400, 'the client closed the connection before the body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** 413, and the connection closed after it (what is left of the body is not read). */
function tooLarge(message: string): HttpError {
  return new HttpError(413, message, { Connection: 'close' });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
