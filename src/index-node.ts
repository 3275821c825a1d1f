/**
 * charrnn in Node: everything of index.ts, with the createBackend whose WebAssembly kernels run
 * on worker_threads (platform-node.ts) instead of Web Workers. The package's conditional exports
 * ("node" in package.json) give this file to Node and index.ts to bundlers and browsers, so one
 * import line works in both; a name exported here shadows the one of `export *`.
 */
export * from './index.js';
export { createBackend } from './backend/platform-node.js';
