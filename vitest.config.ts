import { defineConfig } from 'vitest/config';

// Two cores: two workers; in-process suites are quick, the process-level tier is in test/e2e.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
