/**
 * `charrnn serve CHECKPOINT…`: a sampling server (cli/serve/http.ts) over a pool of sampling
 * workers (cli/serve/pool.ts). Binds to 127.0.0.1 unless --host says otherwise; SIGTERM or
 * Ctrl-C drains: no new requests, in-flight ones get --drain seconds to finish, the rest are
 * cancelled, then exit 0.
 */
import os from 'node:os';
import { basename } from 'node:path';
import { parseBackendFlags } from './backend.js';
import { CliError, parseNumber, type Proc } from './io.js';
import { SampleServer, type ServeOptions } from './serve/http.js';
import { Pool } from './serve/pool.js';
import type { Backend as ServeBackend, ModelSpec } from './serve/protocol.js';

export type ServeFlags = Record<string, string | boolean | undefined>;

export interface ServeConfig {
  models: ModelSpec[];
  workers: number;
  queue: number;
  backend: ServeBackend;
  drain: number;
  /** A worker whose heap grew this much is replaced (cli/serve/worker.ts); tests make it small. */
  recycleBytes: number;
  http: ServeOptions;
}

/** `NAME=PATH` names a model; a bare path is named by its file stem. */
export function modelSpecs(args: string[]): ModelSpec[] {
  const specs = args.map((a) => {
    const m = /^([A-Za-z0-9_.-]+)=(.+)$/.exec(a);
    return m ? { name: m[1], path: m[2] } : { name: basename(a).replace(/\.safetensors$/, ''), path: a };
  });
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new CliError(`two models are named ${JSON.stringify(s.name)}; name them apart with NAME=PATH (e.g. shakespeare=${s.path})`, 2);
    seen.add(s.name);
  }
  return specs;
}

/** The flags, checked (one-line errors, exit 2). */
export function serveConfig(checkpoints: string[], opts: ServeFlags): ServeConfig {
  const whole = (flag: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const n = parseNumber(flag, String(v));
    if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`${flag} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'} (got ${String(v)})`, 2);
    return n;
  };
  const seconds = (flag: string, v: unknown): number => {
    const n = parseNumber(flag, String(v));
    if (!(n > 0)) throw new CliError(`${flag} must be a number of seconds > 0 (got ${String(v)})`, 2);
    return n;
  };
  const { backend } = parseBackendFlags({ backend: opts.backend });
  if (backend === 'webgpu') throw new CliError('--backend webgpu: serve runs on auto, native, wasm or js', 2); // refused above already; narrows the type
  const workers = whole('--workers', opts.workers, 0, 256);
  const cors = typeof opts.cors === 'string' ? opts.cors : undefined;
  if (cors !== undefined && cors !== '*' && !/^https?:\/\/[^/\s]+$/.test(cors)) throw new CliError(`--cors must be an origin such as http://localhost:3000 (scheme and host, no path) or * (got ${JSON.stringify(cors)})`, 2);
  return {
    models: modelSpecs(checkpoints),
    workers: workers === 0 ? os.availableParallelism() : workers,
    queue: whole('--queue', opts.queue, 0),
    backend,
    drain: seconds('--drain', opts.drain),
    recycleBytes: 64 << 20,
    http: {
      host: String(opts.host),
      port: whole('--port', opts.port, 0, 65535),
      cors,
      maxBody: whole('--max-body', opts.maxBody, 1),
      requestTimeout: seconds('--request-timeout', opts.requestTimeout),
      limits: {
        maxPrime: whole('--max-prime', opts.maxPrime, 0),
        maxLength: whole('--max-length', opts.maxLength, 1),
        maxCount: whole('--max-count', opts.maxCount, 1),
        deadline: seconds('--deadline', opts.deadline),
      },
    },
  };
}

/** Load the models into the pool and listen (what the command and the tests start). */
export async function startServing(c: ServeConfig): Promise<SampleServer> {
  let pool: Pool;
  try {
    pool = await Pool.start({ models: c.models, workers: c.workers, queue: c.queue, backend: c.backend, recycleBytes: c.recycleBytes });
  } catch (e) {
    throw new CliError(e instanceof Error ? e.message : String(e));
  }
  try {
    return await SampleServer.start(pool, c.http);
  } catch (e) {
    await pool.close();
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'EADDRINUSE' ? `port ${c.http.port} is in use; pass another --port` : `cannot listen on ${c.http.host}:${c.http.port}: ${(e as Error).message}`);
  }
}

export async function serveCommand(proc: Proc, checkpoints: string[], opts: ServeFlags): Promise<number> {
  const c = serveConfig(checkpoints, opts);
  const server = await startServing(c);
  const names = server.pool.models.map((m) => m.name).join(', ');
  proc.stdout.write(`charrnn serve: ${server.url}/  models: ${names}; ${c.workers} worker${c.workers > 1 ? 's' : ''}, queue ${c.queue} (Ctrl-C or SIGTERM to stop)\n`);
  await new Promise<void>((done) => {
    const stop = (): void => {
      proc.off?.('SIGINT', stop);
      proc.off?.('SIGTERM', stop);
      done();
    };
    proc.on?.('SIGINT', stop);
    proc.on?.('SIGTERM', stop);
  });
  proc.stderr.write(`charrnn serve: shutting down (in-flight requests get ${c.drain} s)\n`);
  const { finished, cancelled } = await server.shutdown(c.drain * 1000);
  proc.stderr.write(`charrnn serve: stopped (${finished} request${finished === 1 ? '' : 's'} finished while draining, ${cancelled} cancelled)\n`);
  return 0;
}
