// Starting and stopping the service: checks the stores, applies migrations, starts API and/or worker.
import type { Server } from 'node:http';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import type { DefaultProgramSettings } from './db/default-program.js';
import { apiBasesFrom, gatewaySettingsFromEnv } from './gateways/settings.js';
import { programBalanceTotals } from './db/balances.js';
import { sealStoredSecrets } from './db/seal-stored.js';
import { activeKeyring, Keyring, parseSecretKeys, useKeyring } from './db/secret-box.js';
import { connect, runMigrations, type Database } from './db/client.js';
import { countRetrying } from './db/inbox.js';
import { checkStores, reason } from './preflight.js';
import { ClockSkewMonitor, type Clock } from './clock-skew.js';
import { evictionPolicyReader } from './redis-policy.js';
import { defaultKeyState, ensureDefaultProgram } from './db/default-program.js';
import { createApp } from './http/app.js';
import { healthRouter } from './http/health.js';
import { homeRouter } from './http/home.js';
import { CREATE_KEY_HINT, startupLine } from './startup-summary.js';
import type { Logger } from './logger.js';
import { PaymentProducer } from './queue/producer.js';
import { producerConnection, workerConnection } from './queue/redis.js';
import { openQueue, openWorker, POSTGRES_LISTENERS_PER_WORKER_PROCESS, PostgresQueues, type QueueConnection } from './queue/backend.js';
import { chooseQueueBackend } from './queue/backend-choice.js';
import { createPaymentWorker } from './queue/worker.js';
import { cachedProgramRules } from './db/programs.js';
import type { LookupClients } from './gateways/gateway.js';
import { lookupClients } from './gateways/registry.js';
import { ProgramDirectory } from './db/program-directory.js';
import { webhooksRouter } from './http/webhooks.js';
import { inboxGroup } from './ingest/grouped-writes.js';
import { apiRouter } from './http/api/index.js';
import { startMaintenance } from './worker/maintenance.js';
import { SCHEDULE_DEFAULTS } from './worker/reconcile.js';
import { paymentProcessor } from './worker/process-payment.js';
import { LedgerBatcher } from './worker/batcher.js';
import { processBulkRun } from './worker/bulk.js';
import { deliverBulkCallback } from './worker/callbacks.js';
import { Metrics } from './metrics.js';
import { metricsRouter } from './http/metrics.js';
import { dashboardRouter, openQueues } from './http/dashboard.js';
import { RejectionRecorder } from './http/webhooks.js';
import { queueDefaults } from './queue/queues.js';
import { BULK_RUNS_QUEUE, BulkJobData, CALLBACKS_QUEUE } from './queue/queues.js';
import { OUTBOUND_WEBHOOKS_QUEUE, type OutboundJobData } from './queue/queues.js';
import { startOutbound } from './worker/outbound-worker.js';

export type Service = {
  config: Config;
  database: Database;
  defaultProgramId: string;
  server?: Server;
  port?: number;
  worker?: Worker;
  producer?: PaymentProducer;
  stop(): Promise<void>;
};

export type ServiceOptions = {
  /** Gateway API clients for the enrich step (default: the registered gateways). */
  clients?: LookupClients;
  /** Retry policy of payment jobs other than the default (tests make them fail fast). */
  paymentJobs?: { attempts?: number; backoffMs?: number };
  /** checkStores() has just answered (main.ts asks it before loading this module). */
  storesChecked?: boolean;
  /** The service's clock: signature timestamps are judged by it, and it is compared with PostgreSQL's (tests offset it). */
  now?: Clock;
  /** How often that comparison runs (default: every minute). */
  clockCheckIntervalMs?: number;
  /** How the start-up summary names the database when it is not DATABASE_URL's (the embedded one). */
  databaseDescription?: string;
  /** The scheduled reconcile's timing other than RECONCILE_EVERY_MINUTES and its defaults (tests run it every few seconds). */
  reconcile?: { everyMs?: number; lagMs?: number; firstRunBackMs?: number; maxWindowMs?: number };
};

/** The default program as the environment describes it (start-up brings the stored one in line). */
export function defaultProgramFrom(config: Config): DefaultProgramSettings {
  return {
    name: config.DEFAULT_PROGRAM_NAME,
    currency: config.DEFAULT_PROGRAM_CURRENCY,
    apiKey: config.API_KEY,
    gateways: gatewaySettingsFromEnv(config),
  };
}

export async function startService(config: Config, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  // the queue backend is decided once, here or by main.ts's checkStores, and kept in QUEUE_BACKEND
  if (!options.storesChecked) config = { ...config, QUEUE_BACKEND: (await checkStores(config, logger)).backend };
  else if (!config.QUEUE_BACKEND) config = { ...config, QUEUE_BACKEND: (await chooseQueueBackend(config)).backend };
  const onPostgres = config.QUEUE_BACKEND === 'postgres';

  const database = connect(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS });
  const closers: (() => Promise<unknown>)[] = [];
  const service: Service = {
    config,
    database,
    defaultProgramId: '',
    async stop() {
      // reverse order: stop taking work first, close the stores last
      for (const close of closers.reverse()) {
        await close().catch((err: unknown) => logger.warn({ err: reason(err) }, 'error while stopping'));
      }
      closers.length = 0;
    },
  };
  closers.push(() => database.close());

  if (config.SECRETS_KEY) useKeyring(new Keyring(parseSecretKeys(config.SECRETS_KEY)));
  else {
    logger.warn(
      'SECRETS_KEY is not set: gateway secrets and keys, signing secrets and webhook secrets are stored in plain text. ' +
        'Development only: NODE_ENV=production refuses to start without it (openssl rand -base64 32)',
    );
  }

  // QUEUE_BACKEND=postgres: every Queue and Worker of this process shares one pool on the bullmq schema:
  // a LISTEN client per worker, and a quarter of the service's own pool size for the queries (short
  // ones: 5 connections carry several thousand a second), so a few processes stay within max_connections
  const pgQueues = onPostgres
    ? new PostgresQueues(config.DATABASE_URL, {
        max: (config.PROCESS_ROLE === 'api' ? 0 : POSTGRES_LISTENERS_PER_WORKER_PROCESS) + Math.max(3, Math.ceil(config.DATABASE_POOL_SIZE / 4)),
      })
    : undefined;
  if (pgQueues) closers.push(() => pgQueues.close());

  try {
    await runMigrations(database);
    await pgQueues?.migrate();
    service.defaultProgramId = await ensureDefaultProgram(database.db, defaultProgramFrom(config));
    const keyring = activeKeyring();
    if (keyring) {
      const sealed = await sealStoredSecrets(database.db, keyring);
      if (sealed.programs || sealed.subscriptions) logger.info(sealed, 'stored secrets sealed under the current SECRETS_KEY');
    }
    const directory = new ProgramDirectory(database.db);
    const programRules = cachedProgramRules(database.db);
    const metrics = new Metrics();
    metrics.queueBackend.set({ backend: onPostgres ? 'postgres' : 'redis' }, 1);
    // this host's clock against PostgreSQL's, now and every minute: signatures are refused beyond 300 s
    const clock = new ClockSkewMonitor({
      pool: database.pool,
      logger: logger.child({ role: 'clock' }),
      now: options.now,
      gauge: metrics.clockSkew,
      intervalMs: options.clockCheckIntervalMs,
    });
    closers.push(async () => clock.close());
    await clock.start();
    const producerOptions = { failedRetentionDays: config.FAILED_JOB_RETENTION_DAYS, ...options.paymentJobs };

    if (config.PROCESS_ROLE !== 'worker') {
      let redis: Redis | undefined;
      if (!pgQueues) {
        redis = producerConnection(config.REDIS_URL);
        redis.on('error', () => {}); // readiness reports it; ioredis reconnects by itself
        const opened = redis;
        closers.push(async () => opened.disconnect());
      }
      const queues: QueueConnection = pgQueues ?? redis!;
      const producer = new PaymentProducer(queues, config.QUEUE_PREFIX, producerOptions);
      closers.push(() => producer.close());
      await producer.queue.waitUntilReady();
      service.producer = producer;
      const bulkQueue = openQueue<BulkJobData>(BULK_RUNS_QUEUE, queues, config.QUEUE_PREFIX, {
        defaultJobOptions: queueDefaults(config.FAILED_JOB_RETENTION_DAYS),
      });
      bulkQueue.on('error', () => {});
      closers.push(() => bulkQueue.close());
      const outboundQueue = openQueue<OutboundJobData>(OUTBOUND_WEBHOOKS_QUEUE, queues, config.QUEUE_PREFIX);
      outboundQueue.on('error', () => {});
      closers.push(() => outboundQueue.close());

      // the dashboard and the queue metrics see every queue in src/queue/queues.ts
      const opsQueues = openQueues(queues, config.QUEUE_PREFIX, { failedRetentionDays: config.FAILED_JOB_RETENTION_DAYS });
      closers.push(() => Promise.all(opsQueues.map((q) => q.close())));
      metrics.watchQueues(opsQueues);
      metrics.watchRetrying(() => countRetrying(database.db));
      metrics.watchBalances(() => programBalanceTotals(database.db));
      const rejections = new RejectionRecorder(database.db, { onUnrecorded: (n) => metrics.rejectionsUnrecorded.inc(n) });
      closers.push(() => rejections.close());

      const app = createApp({
        logger,
        routers: [
          // first: every gateway delivery passes here, and no other router shares its paths
          webhooksRouter({
            db: database.db,
            inbox: inboxGroup(database.pool),
            producer,
            programs: directory,
            bodyLimit: config.BODY_LIMIT_BYTES,
            metrics,
            rejections,
            now: options.now,
          }),
          metricsRouter(metrics),
          homeRouter({ dashboard: !!(config.DASHBOARD_USER && config.DASHBOARD_PASSWORD) }),
          dashboardRouter({ queues: opsQueues, user: config.DASHBOARD_USER, password: config.DASHBOARD_PASSWORD }),
          healthRouter({
            pool: database.pool,
            redis,
            databaseUrl: config.DATABASE_URL,
            redisUrl: config.REDIS_URL,
            dashboardUser: config.DASHBOARD_USER,
            dashboardPassword: config.DASHBOARD_PASSWORD,
            // no Redis memory policy to check on the PostgreSQL backend: nothing there is evicted
            redisPolicy: redis ? evictionPolicyReader(redis) : undefined,
            requireNoEviction: config.NODE_ENV === 'production',
          }),
          apiRouter({
            db: database.db,
            programs: programRules,
            receiving: directory,
            bodyLimit: config.BODY_LIMIT_BYTES,
            bulkQueue,
            jsRateLimitPerMinute: config.JS_RATE_LIMIT_PER_MINUTE,
            integrationSilenceHours: config.INTEGRATION_SILENCE_HOURS,
            clockSkew: clock.current,
            outbound: {
              queue: outboundQueue,
              policy: { allowLoopback: config.WEBHOOKS_ALLOW_LOOPBACK },
              schedule: config.WEBHOOKS_RETRY_DELAYS_MS,
            },
          }),
        ],
      });
      const server = await new Promise<Server>((resolve, reject) => {
        const s = app.listen(config.PORT, '0.0.0.0', (err?: Error) => (err ? reject(err) : resolve(s)));
      });
      server.keepAliveTimeout = 65_000;
      closers.push(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          }),
      );
      service.server = server;
      const address = server.address();
      service.port = typeof address === 'object' && address ? address.port : config.PORT;
      logger.info({ port: service.port }, 'api listening');
    }

    if (config.PROCESS_ROLE !== 'api') {
      let connection: QueueConnection;
      if (pgQueues) connection = pgQueues;
      else {
        const redis = workerConnection(config.REDIS_URL);
        redis.on('error', () => {});
        closers.push(async () => redis.disconnect());
        connection = redis;
      }
      const worker = createPaymentWorker({
        connection,
        prefix: config.QUEUE_PREFIX,
        concurrency: config.WORKER_CONCURRENCY,
        deadlineMs: config.JOB_DEADLINE_MS,
        logger: logger.child({ role: 'worker' }),
        process: paymentProcessor({
          db: database.db,
          programs: programRules,
          clients: metrics.instrumentClients(options.clients ?? lookupClients((id) => directory.gatewaySettings(id), apiBasesFrom(config))),
          // jobs finishing enrichment together share one database transaction (one commit)
          apply: config.WORKER_BATCH_SIZE > 1 ? new LedgerBatcher(database.db, { maxSize: config.WORKER_BATCH_SIZE, maxInFlight: config.WORKER_BATCHES_IN_FLIGHT }).apply : undefined,
        }),
      });
      metrics.observeWorker(worker);
      const sweepProducer = new PaymentProducer(connection, config.QUEUE_PREFIX, producerOptions);
      closers.push(() => sweepProducer.close());
      const maintenance = await startMaintenance({
        db: database.db,
        connection,
        prefix: config.QUEUE_PREFIX,
        logger: logger.child({ role: 'maintenance' }),
        producer: sweepProducer,
        sweepAfterSeconds: config.SWEEP_AFTER_SECONDS,
        inboxRetentionDays: config.INBOX_RETENTION_DAYS,
        reconcile: {
          ...SCHEDULE_DEFAULTS,
          lagMs: config.RECONCILE_LAG_SECONDS * 1000,
          ...options.reconcile,
          everyMs: options.reconcile?.everyMs ?? config.RECONCILE_EVERY_MINUTES * 60_000,
          apiBases: apiBasesFrom(config),
          rps: config.RECONCILE_RPS,
          allowLoopback: config.WEBHOOKS_ALLOW_LOOPBACK,
          onRun: (run) => metrics.reconciled(run.gateway, run.missing),
        },
      });
      closers.push(() => maintenance.close());

      const callbacks = openQueue(CALLBACKS_QUEUE, connection, config.QUEUE_PREFIX, {
        defaultJobOptions: queueDefaults(config.FAILED_JOB_RETENTION_DAYS),
      });
      callbacks.on('error', () => {});
      closers.push(() => callbacks.close());
      const side = [
        openWorker(BULK_RUNS_QUEUE, (job) => processBulkRun({ db: database.db, programs: programRules, callbacks }, BulkJobData.parse(job.data)), connection, config.QUEUE_PREFIX, {
          concurrency: 2,
        }),
        openWorker(
          CALLBACKS_QUEUE,
          (job) => deliverBulkCallback(database.db, BulkJobData.parse(job.data), job, { policy: { allowLoopback: config.WEBHOOKS_ALLOW_LOOPBACK } }),
          connection,
          config.QUEUE_PREFIX,
          { concurrency: 5 },
        ),
      ];
      for (const w of side) {
        w.on('error', (err) => logger.error({ err: err.message, queue: w.name }, 'worker connection error'));
        w.on('failed', (job, err) => logger.warn({ queue: w.name, jobId: job?.id, reason: err.message }, 'job failed'));
        metrics.observeWorker(w);
        closers.push(() => w.close());
      }
      // outbound webhooks: the outbox dispatcher and the delivery worker
      const outbound = await startOutbound({
        db: database.db,
        connection,
        prefix: config.QUEUE_PREFIX,
        logger: logger.child({ role: 'outbound-webhooks' }),
        policy: { allowLoopback: config.WEBHOOKS_ALLOW_LOOPBACK },
        schedule: config.WEBHOOKS_RETRY_DELAYS_MS,
        dispatchIntervalMs: config.WEBHOOKS_DISPATCH_INTERVAL_MS,
        concurrency: config.WEBHOOKS_CONCURRENCY,
      });
      closers.push(() => outbound.close());
      // payment jobs are taken last, once everything else has started: the jobs of a busy queue do not
      // slow the rest of the start-up, and a start-up that fails has taken none of them.
      // Stopping runs in reverse: this worker stops taking jobs first; close() waits for those in flight.
      closers.push(() => worker.close());
      void worker.run();
      await worker.waitUntilReady();
      service.worker = worker;
      logger.info({ concurrency: config.WORKER_CONCURRENCY }, 'worker running');
      const metricsPort = config.METRICS_PORT;
      if (config.PROCESS_ROLE === 'worker' && metricsPort) {
        // a worker-only process has no API port: job, enrich and reward metrics are served here
        const metricsApp = createApp({ logger, routers: [metricsRouter(metrics)] });
        const metricsServer = await new Promise<Server>((resolve, reject) => {
          const m = metricsApp.listen(metricsPort, '0.0.0.0', (err?: Error) => (err ? reject(err) : resolve(m)));
        });
        closers.push(
          () =>
            new Promise<void>((resolve) => {
              metricsServer.close(() => resolve());
              metricsServer.closeIdleConnections();
            }),
        );
        logger.info({ port: metricsPort }, 'worker metrics listening');
      }
    }
    const keys = await defaultKeyState(database.db, service.defaultProgramId);
    const api = config.PROCESS_ROLE !== 'worker';
    const line = startupLine({
      config,
      port: api ? (service.port ?? config.PORT) : null,
      keys,
      metricsPort: config.METRICS_PORT ?? null,
      database: options.databaseDescription,
    });
    logger.info({ summary: true, keys, role: config.PROCESS_ROLE }, line);
    if (api && keys.env !== 'active' && keys.others === 0) {
      logger.warn(
        `the default program has no API key, so every /v1 call answers invalid_api_key: ${CREATE_KEY_HINT}. ` +
          `The queue dashboard is ${config.DASHBOARD_USER && config.DASHBOARD_PASSWORD ? 'open with DASHBOARD_USER and DASHBOARD_PASSWORD' : 'closed until DASHBOARD_USER and DASHBOARD_PASSWORD are set'}`,
      );
    }
  } catch (err) {
    await service.stop();
    throw err;
  }
  return service;
}
