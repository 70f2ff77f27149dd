#!/usr/bin/env node
// The published entry point stays plain JavaScript so `npx gateway` works without a build:
// tsx's register hook compiles the TypeScript sources on load.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
