/**
 * `npm run bench:serve`: a load run of `charrnn serve` on 127.0.0.1.
 *
 *   node dist/bench/serve.js [--seconds 30] [--clients 64] [--length 200] [--backend auto]
 *
 * Builds a random-weights LSTM 2×128 checkpoint (65 symbols; sampling speed does not depend on
 * what the weights say), starts the real CLI as a child process with one worker per core, and
 * runs `--clients` client loops, each POSTing /v1/sample for `--length` characters and waiting
 * for the answer, for `--seconds`. Reports requests/s, p50/p99 latency, errors, the server's
 * resident memory (VmRSS from /proc/PID/status, sampled every 250 ms: after warm-up and peak)
 * and the server's characters/s against one stream sampled in this process on the same engine
 * (the "cores used" ratio; the ideal is the number of cores, less what the clients take), with
 * the CPU time the server and the clients took (cores busy = CPU seconds / wall seconds), and
 * characters per CPU-second of the server against one stream's: what the server costs over
 * plain sampling, a figure that holds however busy the machine is.
 *
 * The machine is shared and noisy: read the ratio of one run, not absolute numbers of two.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBackend } from '../src/backend/platform-node.js';
import { encodeCheckpoint, modelConfigOf } from '../src/checkpoint.js';
import { resolveConfig } from '../src/config.js';
import { generate } from '../src/generate.js';
import { CharRNN } from '../src/model/model.js';
import { Rng } from '../src/rng.js';
import { Vocabulary } from '../src/vocab.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
const arg = (name: string, def: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const SECONDS = Number(arg('seconds', '30'));
const CLIENTS = Number(arg('clients', '64'));
const LENGTH = Number(arg('length', '200'));
const BACKEND = arg('backend', 'auto') as 'auto' | 'wasm' | 'js';
/** Memory after this much of the run counts as "after warm-up". */
const WARMUP_S = Math.min(5, SECONDS / 3);

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
const rssKb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
};
const mb = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`;
/** CPU seconds a process has used (user + system, all threads), from /proc/PID/stat (ticks of 1/100 s on Linux). */
const cpuSeconds = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime: fields 14 and 15 of stat(5)
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(os.tmpdir(), 'charrnn-bench-serve-'));
  try {
    // the model: LSTM 2×128, random weights, tiny Shakespeare's 65 symbols
    const vocab = new Vocabulary([..."\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"].map((c) => c.codePointAt(0)!));
    const config = resolveConfig({ model: 'lstm', layers: 2, hidden: 128 });
    const engine = await createBackend({ kind: BACKEND, threads: 1 });
    const model = new CharRNN(modelConfigOf(config, vocab.size), engine);
    model.init(new Rng(1));
    const ckpt = join(dir, 'lstm2x128.safetensors');
    writeFileSync(ckpt, encodeCheckpoint({ config, model, vocab }));

    // one stream, in this process, on the engine each worker uses (one thread)
    let chars = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let seed = 0; performance.now() - t0 < 3000; seed++) {
      chars += (await generate({ model, vocab }, { prime: 'The ', length: LENGTH, seed })).samples[0].text.length;
    }
    const single = chars / ((performance.now() - t0) / 1000);
    const singleCpu = process.cpuUsage(cpu0);
    const singlePerCpu = chars / ((singleCpu.user + singleCpu.system) / 1e6);
    engine.dispose?.();

    const server = spawn(process.execPath, [join(ROOT, 'bin', 'charrnn.js'), 'serve', ckpt, '--port', '0', '--workers', '0', '--queue', String(CLIENTS * 2), '--backend', BACKEND], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
        if (m) resolve(m[1]);
      });
      server.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    const pid = server.pid!;
    const rssStart = rssKb(pid);

    const latencies: number[] = [];
    let errors = 0;
    let firstError = '';
    let served = 0;
    const start = performance.now();
    const end = start + SECONDS * 1000;
    const serverCpu0 = cpuSeconds(pid);
    const clientCpu0 = process.cpuUsage();
    let rssPeak = rssStart;
    let rssWarm = NaN;
    const sampler = setInterval(() => {
      const kb = rssKb(pid);
      rssPeak = Math.max(rssPeak, kb);
      if (Number.isNaN(rssWarm) && performance.now() - start >= WARMUP_S * 1000) rssWarm = kb;
    }, 250);
    const client = async (c: number): Promise<void> => {
      for (let i = 0; performance.now() < end; i++) {
        const t = performance.now();
        try {
          const res = await fetch(`${url}/v1/sample`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prime: 'The ', length: LENGTH, seed: c * 100_000 + i }) });
          const body = (await res.json()) as { samples?: { text: string }[]; message?: string };
          if (res.status !== 200 || body.samples?.[0].text.length !== LENGTH) {
            errors++;
            firstError ||= `${res.status} ${body.message ?? ''}`;
          } else {
            served += LENGTH;
            latencies.push(performance.now() - t);
          }
        } catch (e) {
          errors++;
          firstError ||= (e as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
    const elapsed = (performance.now() - start) / 1000;
    const serverCores = (cpuSeconds(pid) - serverCpu0) / elapsed;
    const used = process.cpuUsage(clientCpu0);
    const clientCores = (used.user + used.system) / 1e6 / elapsed;
    clearInterval(sampler);
    const rssEnd = rssKb(pid);
    const stats = (await (await fetch(`${url}/healthz`)).json()) as { recycled: number; workers: number };
    server.kill('SIGTERM');
    const code = await exited;

    latencies.sort((a, b) => a - b);
    const rate = served / elapsed;
    console.log(`charrnn serve, LSTM 2×128 (V = ${vocab.size}), ${CLIENTS} clients × ${SECONDS} s, ${LENGTH}-character samples, ${os.availableParallelism()} cores, backend ${BACKEND}`);
    console.log(`  requests      ${latencies.length} ok, ${errors} errors${firstError ? ` (first: ${firstError})` : ''}; ${(latencies.length / elapsed).toFixed(1)} requests/s`);
    console.log(`  latency       p50 ${quantile(latencies, 0.5).toFixed(0)} ms, p99 ${quantile(latencies, 0.99).toFixed(0)} ms`);
    console.log(`  server RSS    at start ${mb(rssStart)}, after ${WARMUP_S.toFixed(0)} s ${mb(rssWarm)}, peak ${mb(rssPeak)}, at the end ${mb(rssEnd)}; ${stats.recycled} worker${stats.recycled === 1 ? '' : 's'} recycled (${stats.workers} serving)`);
    console.log(`  characters/s  server ${rate.toFixed(0)}, one stream ${single.toFixed(0)}: ×${(rate / single).toFixed(2)} (cores: ${os.availableParallelism()})`);
    console.log(`  CPU           server ${serverCores.toFixed(2)} cores busy, clients ${clientCores.toFixed(2)}; load average ${os.loadavg()[0].toFixed(1)} (other processes share the machine)`);
    // per CPU-second, the figures do not depend on how much of the machine others took
    console.log(`  per CPU-second server ${(rate / serverCores).toFixed(0)} characters, one stream ${singlePerCpu.toFixed(0)}: the server's overhead is ${(100 * (1 - rate / serverCores / singlePerCpu)).toFixed(0)}%`);
    console.log(`  shutdown      SIGTERM → exit ${code}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
