// `npm run bench [-- --quick]`: ingest, worker, end-to-end, API-at-scale and memory figures, each
// beside a baseline measured in the same run on the same machine. Writes bench/results/latest.json
// and bench/results/latest.md. Load comes from separate processes on loopback only.
// Flags and sizes: options.ts; each measure: measures/; the processes it starts: processes.ts.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { openQueue, PostgresQueues } from '../src/queue/backend.js';
import { PAYMENT_EVENTS_QUEUE } from '../src/queue/queues.js';
import { createDatabase, dropDatabase, sql } from './database.js';
import { apiAtScale } from './measures/api-scale.js';
import { endToEnd, type Shape } from './measures/end-to-end.js';
import { ingest } from './measures/ingest.js';
import { memory } from './measures/memory.js';
import { worker } from './measures/worker.js';
import { dbUrl, ONLY, QUEUE_BACKEND_POSTGRES, REDIS_URL, prefix, wanted } from './options.js';
import { log, round } from './print.js';
import { compile, killAll, service, stop } from './processes.js';
import { newResults, writeResults } from './report.js';
import { seedPrograms } from './seed.js';

const results = newResults();

async function main() {
  const started = Date.now();
  await Promise.all([compile(), createDatabase()]);
  // the first start migrates the database and creates the default program
  await stop(await service('api', 3900));
  await sql.connect();
  const programId = await seedPrograms();
  const redis = new Redis(REDIS_URL);
  const queue = new Queue(PAYMENT_EVENTS_QUEUE, { connection: redis, prefix });
  // how long each measure took, printed and kept: what to look at when --quick outgrows its minute
  const phases: Record<string, number> = { setup: round((Date.now() - started) / 1000) };
  results.phaseSeconds = phases;
  const timed = async <T>(name: string, measure: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    const figures = await measure();
    phases[name] = round((Date.now() - t) / 1000);
    log(`   (${phases[name]} s)`);
    return figures;
  };
  try {
    if (wanted('ingest')) results.ingest = await timed('ingest', () => ingest(programId));
    // ingest left its jobs unprocessed (no worker ran): they go, and so do their inbox rows, which the
    // inbox sweeper would otherwise find without a job and queue again in the middle of the later
    // measures (it did, in the end-to-end warm-up: bench/HISTORY.md)
    await queue.obliterate({ force: true });
    await sql.query('delete from webhook_events');
    if (wanted('worker')) results.worker = await timed('worker', () => worker(queue));
    // the one-process shape only when asked (`--only=e2e,one-process`): with it, the full run's
    // memory measure and this shape together would bring a slower hour's run near 10 minutes
    const shapes: Shape[] = [...(wanted('e2e') ? ['deployed' as const] : []), ...(ONLY?.includes('one-process') ? ['oneProcess' as const] : [])];
    if (shapes.length) {
      const r = await timed('e2e', () => endToEnd(queue, shapes));
      if (r.deployed) results.endToEnd = r.deployed;
      if (r.oneProcess) results.endToEndOneProcess = r.oneProcess;
    }
    if (QUEUE_BACKEND_POSTGRES && (wanted('worker') || wanted('e2e'))) {
      // the same worker and end-to-end measures with the queues in the bench database (schema bullmq)
      const pg = new PostgresQueues(dbUrl, { max: 6 });
      await pg.migrate();
      const pgQueue = openQueue(PAYMENT_EVENTS_QUEUE, pg, prefix);
      try {
        const figures: Record<string, unknown> = {};
        if (wanted('worker')) figures.worker = await timed('worker-postgres', () => worker(pgQueue, pg));
        if (wanted('e2e')) figures.endToEnd = (await timed('e2e-postgres', () => endToEnd(pgQueue, ['deployed'], { QUEUE_BACKEND: 'postgres' }))).deployed;
        results.postgresQueue = figures;
      } finally {
        await pgQueue.obliterate({ force: true }).catch(() => {});
        await pgQueue.close();
        await pg.close();
      }
    }
    if (wanted('api')) results.api = await timed('api', apiAtScale);
    if (wanted('memory')) results.memory = await timed('memory', () => memory(queue, redis));
  } finally {
    killAll();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    const keys = await redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    redis.disconnect();
    await sql.end();
    await dropDatabase();
  }
  results.seconds = round((Date.now() - started) / 1000);
  if (ONLY) {
    log(`\n(${results.seconds} s; --only=${ONLY.join(',')}: bench/results not written)`);
    return;
  }
  const md = writeResults(results);
  log(`\n${md}\n(${results.seconds} s; bench/results/latest.json and latest.md written)`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}
main().catch((err: unknown) => {
  killAll();
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
