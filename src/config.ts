// The environment, parsed once. Every variable here is documented in README's configuration table.
import { z } from 'zod';

const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const url = (protocols: string[]) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

const optionalUrl = optional.pipe(url(['http:', 'https:']).optional());

const intInRange = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def);

const Env = z.object({
  PORT: intInRange(3000, 0, 65535),
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/partner_ledger'),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  PROCESS_ROLE: z.enum(['api', 'worker', 'all']).default('all'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Prefix of every BullMQ key: lets several deployments (or test files) share one Redis. */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pl'),
  WORKER_CONCURRENCY: intInRange(20, 1, 500),
  /** Seconds SIGTERM waits for in-flight jobs and requests before giving up. */
  SHUTDOWN_TIMEOUT_SECONDS: intInRange(30, 1, 600),
  /** Largest request body accepted (webhooks and API), in bytes. */
  BODY_LIMIT_BYTES: intInRange(1_048_576, 1024, 50 * 1_048_576),
  /** Seconds an inbox event may wait before the sweeper checks that the queue has it. */
  SWEEP_AFTER_SECONDS: intInRange(60, 5, 86_400),
  /** Browser tracking requests allowed per client address and minute. */
  JS_RATE_LIMIT_PER_MINUTE: intInRange(60, 1, 100_000),
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
  CHARGEBEE_SITE: optional,
  CHARGEBEE_API_KEY: optional,
  CHARGEBEE_API_BASE: optionalUrl,
});

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

/** Several webhook secrets may be active at once (rotation): comma-separated. */
export function secretList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
