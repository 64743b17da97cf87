// The environment, parsed once. Every variable here is documented in README's configuration table.
import { z } from 'zod';
import { parseSecretKeys } from './db/secret-box.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/partner_ledger';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const url = (protocols: string[], orWord?: string) =>
  z
    .string()
    .trim()
    .refine((v) => {
      if (v === orWord) return true;
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}${orWord ? `, or ${orWord}` : ''}`);

const optionalUrl = optional.pipe(url(['http:', 'https:']).optional());

const intInRange = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def);

const Env = z.object({
  PORT: intInRange(3000, 0, 65535),
  /**
   * `embedded`: the embedded PostgreSQL in DATA_DIR (src/embedded-database.ts), also used when this is
   * unset and nothing answers at 127.0.0.1:5432.
   */
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'embedded').default(DEFAULT_DATABASE_URL),
  /** Where the embedded PostgreSQL keeps its data (in DATA_DIR/postgres). */
  DATA_DIR: z.string().trim().min(1).default('.data'),
  /** Unset: the default address (REDIS_URL_SET tells the two apart, for QUEUE_BACKEND's default). */
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  /**
   * Where the queues live: `redis`, or `postgres` (BullMQ's PostgreSQL backend, schema bullmq of
   * DATABASE_URL). Unset: redis when REDIS_URL is set or a Redis answers at the default address,
   * postgres otherwise (decided at start).
   */
  QUEUE_BACKEND: optional.pipe(z.enum(['redis', 'postgres']).optional()),
  PROCESS_ROLE: z.enum(['api', 'worker', 'all']).default('all'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** pretty (one human line a record) or json (one JSON object a line); unset: pretty on a terminal, else json. */
  LOG_FORMAT: optional.pipe(z.enum(['pretty', 'json']).optional()),
  /** Prefix of every BullMQ key: lets several deployments (or test files) share one Redis. */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pl'),
  /** Payment jobs one worker process holds at once: the batches being written, and the next one filling. */
  WORKER_CONCURRENCY: intInRange(750, 1, 2000),
  /** Payment jobs applied together in one database transaction at most (1: one transaction per job). */
  WORKER_BATCH_SIZE: intInRange(250, 1, 1000),
  /** Ledger batches one worker process writes at once (each takes the jobs that arrived meanwhile). */
  WORKER_BATCHES_IN_FLIGHT: intInRange(2, 1, 16),
  /** PostgreSQL connections per process. */
  DATABASE_POOL_SIZE: intInRange(20, 2, 500),
  /**
   * Longest one SQL statement may run on the service's PostgreSQL connections, in ms: their
   * `statement_timeout` (0: none). A statement sleeping or waiting on a lock past it fails, and its job
   * is retried or its request answered 503, instead of holding a connection and its locks for good.
   */
  DATABASE_STATEMENT_TIMEOUT_MS: intInRange(30_000, 0, 3_600_000),
  /** Longest one payment job may run, in ms: then it fails and is retried with backoff like any transient failure (0: none). */
  JOB_DEADLINE_MS: intInRange(120_000, 0, 3_600_000),
  /** Seconds SIGTERM waits for in-flight jobs and requests before giving up. */
  SHUTDOWN_TIMEOUT_SECONDS: intInRange(30, 1, 600),
  /** Largest request body accepted (webhooks and API), in bytes. */
  BODY_LIMIT_BYTES: intInRange(1_048_576, 1024, 50 * 1_048_576),
  /** Seconds an inbox event may wait before the sweeper checks that the queue has it. */
  SWEEP_AFTER_SECONDS: intInRange(60, 5, 86_400),
  /** Requests a second reconcile sends to one gateway's API at most (429s are waited out besides). */
  RECONCILE_RPS: z.coerce.number().positive().max(100).default(4),
  /** Minutes between scheduled reconciles of every configured gateway of every program (0: off). */
  RECONCILE_EVERY_MINUTES: intInRange(60, 0, 10_080),
  /** Seconds the scheduled reconcile leaves to webhooks: events younger than this wait for its next run. */
  RECONCILE_LAG_SECONDS: intInRange(300, 0, 86_400),
  /** Browser tracking requests allowed per client address and minute. */
  JS_RATE_LIMIT_PER_MINUTE: intInRange(60, 1, 100_000),
  /** Days a failed job stays in Redis (dashboard, replay) before BullMQ removes it. */
  FAILED_JOB_RETENTION_DAYS: intInRange(14, 1, 365),
  /** Hours without an event after which a gateway that used to send events is flagged silent. */
  INTEGRATION_SILENCE_HOURS: intInRange(24, 1, 24 * 90),
  /** A worker-only process (PROCESS_ROLE=worker) serves GET /metrics on this port when set. */
  METRICS_PORT: optional.pipe(z.coerce.number<string | undefined>().int().min(1).max(65535).optional()),
  API_KEY: optional,
  DASHBOARD_USER: optional,
  DASHBOARD_PASSWORD: optional,

  DEFAULT_PROGRAM_NAME: z.string().trim().min(1).default('Default program'),
  DEFAULT_PROGRAM_CURRENCY: z
    .string()
    .regex(/^[A-Za-z]{3}$/)
    .transform((c) => c.toUpperCase())
    .default('USD'),

  STRIPE_WEBHOOK_SECRET: optional,
  STRIPE_API_KEY: optional,
  STRIPE_API_BASE: optionalUrl,
  PADDLE_WEBHOOK_SECRET: optional,
  PADDLE_API_KEY: optional,
  PADDLE_API_BASE: optionalUrl,
  WOOCOMMERCE_WEBHOOK_SECRET: optional,
  WOOCOMMERCE_URL: optionalUrl,
  WOOCOMMERCE_CONSUMER_KEY: optional,
  WOOCOMMERCE_CONSUMER_SECRET: optional,
  WOOCOMMERCE_API_BASE: optionalUrl,
  CHARGEBEE_WEBHOOK_USERNAME: optional,
  CHARGEBEE_WEBHOOK_PASSWORD: optional,
  /** A site name (`acme-test` for acme-test.chargebee.com), never a host. */
  CHARGEBEE_SITE: optional.pipe(z.string().regex(/^[a-z0-9-]{1,100}$/, 'a Chargebee site name such as acme-test (lowercase letters, digits and -)').optional()),
  CHARGEBEE_API_KEY: optional,
  CHARGEBEE_API_BASE: optionalUrl,
  /** Outbound webhooks: allow loopback receivers (local development, tests); private ranges stay refused. */
  WEBHOOKS_ALLOW_LOOPBACK: optional
    .pipe(z.enum(['true', 'false', '1', '0']).optional())
    .transform((v) => v === 'true' || v === '1'),
  /** Retry delays of a failed outbound delivery, comma-separated milliseconds; unset: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
  WEBHOOKS_RETRY_DELAYS_MS: optional.pipe(
    z
      .string()
      .regex(/^\d{1,9}(,\d{1,9}){0,19}$/, 'comma-separated milliseconds, at most 20')
      .transform((v) => v.split(',').map(Number))
      .optional(),
  ),
  /** How often each worker process looks for outbox events to dispatch, in milliseconds. */
  WEBHOOKS_DISPATCH_INTERVAL_MS: intInRange(1000, 50, 60_000),
  /** Outbound deliveries one worker process sends at once. */
  WEBHOOKS_CONCURRENCY: intInRange(10, 1, 200),
  /**
   * The key(s) sealing stored secrets (AES-256-GCM): 32 bytes, base64 or hex, comma-separated while
   * rotating (the first seals). Required when NODE_ENV=production.
   */
  SECRETS_KEY: optional.pipe(
    z
      .string()
      .refine((v) => {
        try {
          parseSecretKeys(v);
          return true;
        } catch {
          return false;
        }
      }, 'each key is 32 bytes as base64 or 64 hex digits (openssl rand -base64 32), comma-separated while rotating')
      .optional(),
  ),
  NODE_ENV: optional,
  /** Days a delivery's raw body is kept; then it is dropped and the row stays as a tombstone for dedupe. */
  INBOX_RETENTION_DAYS: intInRange(90, 1, 3650),
}).superRefine((c, ctx) => {
  if (c.NODE_ENV === 'production' && !c.SECRETS_KEY) {
    ctx.addIssue({
      code: 'custom',
      path: ['SECRETS_KEY'],
      message: 'required when NODE_ENV=production: stored gateway secrets and keys are sealed with it (openssl rand -base64 32)',
    });
  }
}).transform(({ REDIS_URL, ...c }) => ({ ...c, REDIS_URL: REDIS_URL ?? DEFAULT_REDIS_URL, REDIS_URL_SET: REDIS_URL !== undefined }));

export type Config = z.infer<typeof Env>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse the environment; an invalid value becomes one readable line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = Env.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => {
    const name = String(i.path[0] ?? '?');
    const value = env[name];
    const shown =
      value === undefined
        ? 'missing'
        : /SECRET|PASSWORD|API_KEY/.test(name)
          ? '(hidden)'
          : /_URL$|_BASE$/.test(name)
            ? JSON.stringify(redactUrl(value))
            : JSON.stringify(value);
    return `${name}=${shown}: ${i.message}`;
  });
  throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
}

/** A URL with its password replaced, fit for logs and error messages. */
export function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

