/**
 * Entry point of a Web Worker of the WebAssembly backend (started by platform-web.ts): the browser
 * twin of wasm-worker-node.ts. The first message is the WorkerInit (module, shared memory,
 * control blocks); the worker instantiates the kernels on that memory, answers 'ready', then
 * serves jobs forever (serveJobs blocks in Atomics.wait, which workers may do).
 */
import { instantiateKernels } from './wasm-abi.js';
import { serveJobs, type WorkerInit } from './wasm-pool.js';

/** The dedicated-worker global, typed here so this file compiles without the WebWorker lib. */
const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<WorkerInit>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = (e) => {
  scope.onmessage = null; // one init per worker; jobs then come through shared memory
  const init = e.data;
  instantiateKernels(init.module, init.memory).then(
    (kernels) => {
      scope.postMessage('ready');
      serveJobs(init, kernels);
    },
    (err: unknown) => scope.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
};
