// Composition root: `npm start` runs the API, the worker, or both (PROCESS_ROLE).
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, defaultLogFormat } from './logger.js';
import { chooseDatabase, EmbeddedPostgresError, type DatabaseChoice } from './embedded-database.js';
import { checkStores, StartupError } from './preflight.js';
import type { Service } from './service.js';

function fail(message: string): never {
  process.stderr.write(`partner-ledger: ${message}\n`);
  process.exit(1);
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const logger = createLogger(config.LOG_LEVEL, { format: config.LOG_FORMAT ?? defaultLogFormat() });
  let service: Service | undefined;
  let database: DatabaseChoice | undefined;
  let stopping = false;
  // the embedded PostgreSQL stops last, once the service has closed its connections
  const stopDatabase = async () => {
    if (!database?.embedded) return;
    await database.embedded.stop().then(
      () => database?.embedded?.owned && logger.info('embedded PostgreSQL stopped'),
      (err: unknown) => logger.error({ err: (err as Error).message }, 'could not stop the embedded PostgreSQL'),
    );
  };
  const stop = (running: Service) =>
    running.stop().then(
      async () => {
        await stopDatabase();
        logger.info('stopped');
        process.exit(0);
      },
      async () => {
        await stopDatabase();
        process.exit(1);
      },
    );
  // Listened for from the start: /readyz answers as soon as the API listens, before the worker's part
  // has started, and a SIGTERM then (an orchestrator stopping a container that just became ready) must
  // stop the service cleanly once it has started, not kill it halfway. A second signal before it has
  // started exits at once.
  const shutdown = (signal: string) => {
    if (stopping) {
      if (!service) process.exit(1);
      return;
    }
    stopping = true;
    logger.info({ signal }, service ? 'shutting down: finishing in-flight work' : 'shutting down once started');
    const timer = setTimeout(() => {
      logger.error({ seconds: config.SHUTDOWN_TIMEOUT_SECONDS }, 'shutdown timed out');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_SECONDS * 1000);
    timer.unref();
    if (service) void stop(service);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    database = await chooseDatabase(config, process.env, 'service', (fields, msg) => logger.info(fields, msg));
    config = database.config;
    // asked before the rest of the service (gateway SDKs, BullMQ, express) is loaded: a missing store is named sooner
    const queues = await checkStores(config, logger);
    const { startService } = await import('./service.js');
    service = await startService({ ...config, QUEUE_BACKEND: queues.backend }, logger, { storesChecked: true, databaseDescription: database.description });
  } catch (err) {
    await stopDatabase();
    if (err instanceof StartupError || err instanceof EmbeddedPostgresError) fail(err.message);
    fail(`start-up failed: ${(err as Error).message}`);
  }
  // a signal came while it was starting
  if (stopping) void stop(service);
}

void main();
