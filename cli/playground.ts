/**
 * `charrnn playground`: serve the browser playground (built by `npm run build:web` into
 * dist/web) on 127.0.0.1. The page is served cross-origin isolated (COOP/COEP), which is what
 * lets it use SharedArrayBuffer and so the multi-threaded WebAssembly backend.
 *
 * Deliberately small: static files only, GET/HEAD only, no request bodies, and paths that would
 * leave the folder are refused.
 */
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, parseNumber, type Proc } from './io.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.safetensors': 'application/octet-stream',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

export function webRoot(): string {
  return fileURLToPath(new URL('../web/', import.meta.url)); // dist/cli → dist/web
}

/** Map a URL path to a file under root, or null if it would escape root. */
export function resolveStatic(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  const rel = normalize(path).replace(/^([/\\])+/, '');
  const full = resolve(root, rel === '' ? 'index.html' : rel);
  const base = resolve(root);
  return full === base || full.startsWith(base + sep) ? full : null;
}

export function startServer(root: string, host: string, port: number): Promise<Server> {
  const server = createServer(async (req, res) => {
    const send = (code: number, body: string): void => {
      res.writeHead(code, { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    if (Number(req.headers['content-length'] ?? 0) > 0) return send(413, 'request bodies are not accepted');
    const file = resolveStatic(root, req.url ?? '/');
    if (!file) return send(403, 'forbidden');
    try {
      let path = file;
      if ((await stat(path)).isDirectory()) path = join(path, 'index.html');
      const body = await readFile(path);
      res.writeHead(200, { ...HEADERS, 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream', 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      send(404, 'not found');
    }
  });
  server.requestTimeout = 30_000;
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok(server));
  });
}

export async function playgroundCommand(proc: Proc, opts: { port: string; host: string }): Promise<number> {
  const port = parseNumber('--port', opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be a whole number from 0 to 65535 (got ${opts.port})`, 2);
  const root = webRoot();
  try {
    await stat(join(root, 'index.html'));
  } catch {
    throw new CliError(`the playground is not built (${root} is missing); run npm run build:web`);
  }
  let server: Server;
  try {
    server = await startServer(root, opts.host, port);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(code === 'EADDRINUSE' ? `port ${port} is in use; pass another --port` : `cannot listen on ${opts.host}:${port}: ${(e as Error).message}`);
  }
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  proc.stdout.write(`charrnn playground: http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${actual}/  (Ctrl-C to stop)\n`);
  await new Promise<void>((done) => {
    const stop = (): void => {
      proc.off?.('SIGINT', stop);
      server.close(() => done());
      server.closeAllConnections();
    };
    proc.on?.('SIGINT', stop);
  });
  return 0;
}
