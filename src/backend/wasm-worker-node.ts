/**
 * Entry point of a Node worker thread of the WebAssembly backend (started by platform-node.ts):
 * instantiate the kernels on the shared memory, report ready, then serve jobs forever.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { instantiateKernels } from './wasm-abi.js';
import { serveJobs, type WorkerInit } from './wasm-pool.js';

const init = workerData as WorkerInit;
const kernels = await instantiateKernels(init.module, init.memory);
parentPort!.postMessage('ready');
serveJobs(init, kernels);
