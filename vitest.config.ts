import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests that start runc, registries and podman share the host: keep files parallel but bounded.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
  },
});
