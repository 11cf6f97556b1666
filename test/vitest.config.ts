import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Two test files at a time, whatever the cores (vitest's default is one fewer than the cores,
    // so one on these 2-core machines): most of a file's time is spent waiting on processes it
    // starts, drains and restarts, and with two the whole run took 475 s here instead of 841 s.
    // Not more: the pools of the files running at once must stay inside PostgreSQL's 100
    // connections, and two is what CI runs and has passed with.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default']
  }
})
