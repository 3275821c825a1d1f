#!/usr/bin/env node
// The whole CLI lives in cli/main.ts so that tests can call main() with a fake process.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process);
