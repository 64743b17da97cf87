// Composition root: `npm start` runs the API, the worker, or both (PROCESS_ROLE).
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { checkStores, StartupError } from './preflight.js';
import type { Service } from './service.js';

function fail(message: string): never {
  process.stderr.write(`partner-ledger: ${message}\n`);
  process.exit(1);
}

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const logger = createLogger(config.LOG_LEVEL);
  let service: Service | undefined;
  let stopping = false;
  const stop = (running: Service) =>
    running.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      () => process.exit(1),
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
    // asked before the rest of the service (gateway SDKs, BullMQ, express) is loaded: a missing store is named sooner
    await checkStores(config, logger);
    const { startService } = await import('./service.js');
    service = await startService(config, logger, { storesChecked: true });
  } catch (err) {
    if (err instanceof StartupError) fail(err.message);
    fail(`start-up failed: ${(err as Error).message}`);
  }
  // a signal came while it was starting
  if (stopping) void stop(service);
}

void main();
