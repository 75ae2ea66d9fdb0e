import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.integration.test.ts'],
          // Inventories parsed in unit tests must not depend on the ~/.ssh/config of whoever runs them.
          env: { EDGECTL_SSH_CONFIG: 'none' },
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.integration.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          // Every new SSH session on every lab host costs 2 s (what a slow login shell costs on a fresh
          // machine, or conda/pyenv in ~/.bashrc on a real one): edgectl must not depend on it.
          env: { EDGECTL_LAB_SESSION_DELAY_MS: process.env['EDGECTL_LAB_SESSION_DELAY_MS'] ?? '2000' },
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
