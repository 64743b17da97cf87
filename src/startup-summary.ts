// The one human line start-up logs: where the API, docs and dashboard are, whether an API key and the
// dashboard's credentials are set, and which stores are used.
import { redactUrl, type Config } from './config.js';
import type { DefaultKeyState } from './db/default-program.js';
import { VERSION } from './version.js';

export type StartupFacts = { config: Config; port: number | null; keys: DefaultKeyState; metricsPort?: number | null; database?: string };

/** How to create a key, said where a start has none. */
// compiled (the Docker image, npm run start:prod) the commands are `partner-ledger`, as tsx is not installed there
const CLI = import.meta.url.endsWith('.js') ? 'partner-ledger' : 'npm run cli --';
export const CREATE_KEY_HINT = `create one: ${CLI} keys:create (or set API_KEY and restart)`;

function keyWords(k: DefaultKeyState, envSet: boolean): string {
  const others = k.others ? `, ${k.others} other key${k.others === 1 ? '' : 's'}` : '';
  if (k.env === 'active') return `API key: ${envSet ? 'API_KEY' : 'API_KEY set at an earlier start, kept'}${others}`;
  if (k.env === 'revoked' && envSet) return `API key: API_KEY was revoked (keys:revoke)${others}${k.others ? '' : `: no key works; ${CREATE_KEY_HINT}`}`;
  return k.others ? `API key: ${k.others} key${k.others === 1 ? '' : 's'} (no API_KEY)` : `API key: none for the default program; ${CREATE_KEY_HINT}`;
}

export function startupLine(f: StartupFacts): string {
  const c = f.config;
  const parts: string[] = [`Partner Ledger ${VERSION} started (${c.PROCESS_ROLE === 'all' ? 'API and worker' : c.PROCESS_ROLE})`];
  if (f.port !== null) {
    const base = `http://127.0.0.1:${f.port}`;
    parts.push(`API ${base}/v1, docs ${base}/docs`);
    parts.push(
      `dashboard ${base}/admin/queues (${c.DASHBOARD_USER && c.DASHBOARD_PASSWORD ? 'DASHBOARD_USER and DASHBOARD_PASSWORD set' : 'closed until DASHBOARD_USER and DASHBOARD_PASSWORD are set'})`,
    );
    parts.push(keyWords(f.keys, !!c.API_KEY));
  } else if (f.metricsPort) {
    parts.push(`metrics http://127.0.0.1:${f.metricsPort}/metrics`);
  }
  const database = f.database ?? `PostgreSQL ${redactUrl(c.DATABASE_URL)}`;
  parts.push(
    c.QUEUE_BACKEND === 'postgres'
      ? `stores: ${database} (ledger, and the BullMQ queues in schema bullmq: QUEUE_BACKEND=postgres, no Redis)`
      : `stores: ${database}, Redis ${redactUrl(c.REDIS_URL)} (BullMQ queues, prefix ${c.QUEUE_PREFIX}; QUEUE_BACKEND=redis)`,
  );
  return parts.join('; ');
}
