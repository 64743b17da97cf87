import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', '.bench-build/', 'node_modules/', 'drizzle/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    // the core is pure: business rules only, no I/O and no edges
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'http', 'net', 'crypto'], message: 'src/core is pure: no Node I/O.' },
            {
              group: ['express', 'bullmq', 'ioredis', 'pg', 'drizzle-orm', 'drizzle-orm/*', 'stripe', 'chargebee', '@paddle/*', '@woocommerce/*', 'pino'],
              message: 'src/core is pure: edges live in src/http, src/queue, src/db, src/gateways.',
            },
            { group: ['../*'], message: 'src/core imports only from src/core.' },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
