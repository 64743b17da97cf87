// The whole service (API + worker) in-process, on its own database, queue prefix and port, as the
// end-to-end tests drive it: over HTTP, as a gateway or an API client would. The queues live on
// TEST_QUEUE_BACKEND (Redis, or the test database's bullmq schema) unless `env` names QUEUE_BACKEND.
import type { Queue } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { openQueue, PostgresQueues } from '../../src/queue/backend.js';
import { webhookEvents } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import { startService, type Service, type ServiceOptions } from '../../src/service.js';
import { testConfig } from './config.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { TEST_QUEUE_BACKEND, TEST_REDIS_URL } from './env.js';
import { removePrefix, testPrefix } from './redis.js';

export type TestService = {
  service: Service;
  db: TestDatabase;
  url: string;
  programId: string;
  /** POST raw bytes to a path with headers; the response status and JSON body. */
  post(path: string, body: Buffer | string, headers?: Record<string, string>): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Wait until the inbox row of a gateway event reaches a final status (processed, ignored, failed). */
  settled(gateway: string, eventId: string, timeoutMs?: number): Promise<typeof webhookEvents.$inferSelect>;
  /** One of the service's queues, opened on its backend from outside (to read a job's state); closed by `close`. */
  openQueue(name: string): Promise<{ queue: Queue; close(): Promise<void> }>;
  stop(): Promise<void>;
};

export async function startTestService(env: Record<string, string> = {}, options: ServiceOptions = {}): Promise<TestService> {
  const db = await createTestDatabase();
  const prefix = testPrefix();
  const config = testConfig({ DATABASE_URL: db.url, QUEUE_PREFIX: prefix, PORT: '0', QUEUE_BACKEND: TEST_QUEUE_BACKEND, ...env });
  const service = await startService(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), options);
  const url = `http://127.0.0.1:${service.port}`;
  return {
    service,
    db,
    url,
    programId: service.defaultProgramId,
    async post(path, body, headers = {}) {
      const res = await fetch(`${url}${path}`, {
        method: 'POST',
        body: typeof body === 'string' ? body : new Uint8Array(body),
        headers: { 'content-type': 'application/json', ...headers },
      });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: json };
    },
    async settled(gateway, eventId, timeoutMs = 10_000) {
      const started = Date.now();
      for (;;) {
        const [row] = await db.db
          .select()
          .from(webhookEvents)
          .where(and(eq(webhookEvents.gateway, gateway), eq(webhookEvents.eventId, eventId)));
        if (row && ['processed', 'ignored', 'failed'].includes(row.status)) return row;
        if (Date.now() - started > timeoutMs) {
          throw new Error(`inbox event ${gateway}/${eventId} did not settle: ${row ? `${row.status} ${row.lastError ?? ''}` : 'missing'}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async openQueue(name) {
      if (service.config.QUEUE_BACKEND === 'postgres') {
        const queues = new PostgresQueues(db.url, { max: 2 });
        const queue = openQueue(name, queues, prefix);
        return { queue, close: async () => (await queue.close(), await queues.close()) };
      }
      const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
      const queue = openQueue(name, redis, prefix);
      return { queue, close: async () => (await queue.close(), redis.disconnect()) };
    },
    async stop() {
      await service.stop();
      // the bullmq schema goes with the database
      if (service.config.QUEUE_BACKEND !== 'postgres') await removePrefix(prefix);
      await db.drop();
    },
  };
}
