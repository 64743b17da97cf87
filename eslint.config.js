import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** One config block a folder: the sibling parts (src/<part>/) and modules it must not import. */
function boundaries(rules) {
  return Object.entries(rules).map(([files, r]) => ({
    files: [files],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: [...r.parts.map((part) => `**/${part}/*`), ...r.also], message: `${files.split('/')[1]}: ${r.why}.` }] },
      ],
    },
  }));
}

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
  // The parts and the doors between them (ARCHITECTURE.md): each part names what it must never import.
  ...boundaries({
    'src/gateways/**/*.ts': { parts: ['db', 'http', 'queue', 'ingest', 'cli', 'worker'], also: ['**/cli.js', '**/config.js', '**/service.js'], why: 'a gateway is its wire format, mapping and API client: storage, HTTP, the queue and commands are other parts' },
    'src/db/**/*.ts': { parts: ['http', 'worker', 'cli', 'ingest', 'queue'], also: ['**/cli.js', '**/config.js', '**/service.js'], why: 'storage loads snapshots and applies plans: it is handed its settings, it does not read them' },
    'src/worker/**/*.ts': { parts: ['http', 'cli'], also: ['**/cli.js', 'express'], why: 'the worker shares JSON shapes through src/views and sending through src/outbound, never express code' },
    'src/http/**/*.ts': { parts: ['worker', 'cli'], also: ['**/cli.js'], why: 'the API shares with the worker through src/db, src/views and src/outbound' },
    'src/queue/**/*.ts': { parts: ['db', 'worker', 'http', 'cli', 'ingest'], also: ['**/cli.js'], why: 'the queue carries jobs; it does not know what they do' },
    'src/outbound/**/*.ts': { parts: ['http', 'worker', 'cli', 'queue', 'ingest', 'gateways'], also: ['**/cli.js', 'express'], why: 'sending to a URL is used by the API and the worker alike' },
    'src/views/**/*.ts': { parts: ['http', 'worker', 'cli', 'queue', 'ingest', 'gateways'], also: ['**/cli.js', 'express'], why: 'the public JSON shapes serve the API and the outbound webhooks alike' },
    'src/ingest/**/*.ts': { parts: ['http', 'worker', 'cli'], also: ['**/cli.js'], why: 'ingest is what receivers and commands share' },
  }),
  {
    // the inbox's states have one owner (ARCHITECTURE.md): src/db/inbox.ts names every move of a
    // webhook_events row; elsewhere the table is only read
    files: ['src/**/*.ts'],
    ignores: ['src/db/inbox.ts', 'src/db/schema.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...['TemplateElement[value.raw', 'Literal[value'].map((node) => ({
          selector: `${node}=/\\b(update|insert\\s+into|delete\\s+from)\\s+(public\\.)?"?webhook_events\\b/i]`,
          message: 'webhook_events is written only by src/db/inbox.ts: call (or add) a named state change there.',
        })),
        // drizzle: db.update(webhookEvents), tx.insert(schema.webhookEvents), ...
        ...['arguments.0.name', 'arguments.0.property.name'].map((arg) => ({
          selector: `CallExpression[callee.property.name=/^(insert|update|delete)$/][${arg}='webhookEvents']`,
          message: 'webhook_events is written only by src/db/inbox.ts: call (or add) a named state change there.',
        })),
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
