/**
 * The cluster launcher's public surface: `startCluster` and the shapes it deals in, plus the
 * helpers `npm start`, the bench and the tests use (free ports, the output printer, the line
 * splitter). Importing it starts nothing and installs nothing.
 */
export * from './types.ts';
export { startCluster } from './launcher.ts';
export { freePorts } from './ports.ts';
export { pipeLines, prefixedOutput } from './output.ts';
export { describeExit } from './signals.ts';
