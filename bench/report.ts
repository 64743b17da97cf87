// The run's record: its figures as bench/results/latest.json, and the table of them as latest.md.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { FULL, QUICK, S, sizes } from './options.js';
import { signed } from './print.js';

/** What a run writes to latest.json: the run and its machine first, then each measure's figures as it finishes. */
export function newResults(): Record<string, unknown> {
  return {
    when: new Date().toISOString(),
    quick: QUICK,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  };
}

/** The end-to-end stream's CPU a webhook, for the table (absent from results written before it was measured). */
function cpuOfStream(c: { total: number; postgres: number; redis: number; byProcess: Record<string, number> } | undefined): string {
  if (!c) return '';
  return `; CPU ${c.total} µs a webhook (${Object.entries(c.byProcess).map(([k, v]) => `${k} ${v}`).join(', ')}, PostgreSQL ${c.postgres}, Redis ${c.redis})`;
}

export function markdown(results: Record<string, unknown>): string {
  const r = results as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const rows = [
    ['Ingest (signed Stripe webhooks, 50 conns)', `${r.ingest.service.rps} req/s, p99 ${r.ingest.service.p99} ms, non-2xx ${r.ingest.service.non2xx}`, `bare express ${r.ingest.baseline.rps} req/s; CPU ${r.ingest.cpuPerRequestUs.bare.total} µs a request against the service's ${r.ingest.cpuPerRequestUs.service.total} µs${r.ingest.floor ? `; the floor (node http, verification, inbox, queue) ${r.ingest.floor.rps} req/s, × ${r.ingest.floor.ratio}, ${r.ingest.cpuPerRequestUs.floor.total} µs, the service × ${r.ingest.floor.serviceRatio} of it` : ''}${r.ingest.expressFloor ? `; the same floor on express × ${r.ingest.expressFloor.ratio}, ${r.ingest.cpuPerRequestUs.expressFloor.total} µs, the service × ${r.ingest.expressFloor.serviceRatio} of it` : ''}`, `× ${r.ingest.ratio} (target ≥ 0.6, p99 ≤ 30 ms)`],
    ['Worker (mixed events)', `${r.worker.eventsPerSecond.oneWorker}/s; ${r.worker.eventsPerSecond.twoWorkers === null ? 'two workers in a full run only' : `two workers ${r.worker.eventsPerSecond.twoWorkers}/s`}`, `BullMQ no-op ${r.worker.baselineNoopPerSecond}/s (mean of ${r.worker.baselineNoopReadings.join(' and ')}); CPU ${r.worker.cpuPerEventUs.noop.total} µs a job against the worker's ${r.worker.cpuPerEventUs.oneWorker.total} µs an event`, `× ${r.worker.ratio} (target ≥ 3,000/s and ≥ 0.2)`],
    ['End to end (2xx → readable), API and worker processes', `p50 ${r.endToEnd.p50} ms, p99 ${r.endToEnd.p99} ms (write began p99 ${r.endToEnd.writeBegan.p99} ms), queue max ${r.endToEnd.queueWaitingMax}`, `${r.endToEnd.sent} webhooks at ${S.e2eRate}/s${cpuOfStream(r.endToEnd.cpuPerWebhookUs)}`, 'target p99 ≤ 250 ms'],
    ...(r.postgresQueue?.worker
      ? [['Worker, queues on PostgreSQL (QUEUE_BACKEND=postgres)', `${r.postgresQueue.worker.eventsPerSecond.oneWorker}/s`, `BullMQ no-op on PostgreSQL ${r.postgresQueue.worker.baselineNoopPerSecond}/s; CPU ${r.postgresQueue.worker.cpuPerEventUs.oneWorker.total} µs an event`, 'printed']]
      : []),
    ...(r.postgresQueue?.endToEnd
      ? [['End to end, queues on PostgreSQL', `p50 ${r.postgresQueue.endToEnd.p50} ms, p99 ${r.postgresQueue.endToEnd.p99} ms, queue max ${r.postgresQueue.endToEnd.queueWaitingMax}`, `${r.postgresQueue.endToEnd.sent} webhooks at ${S.e2eRate}/s${cpuOfStream(r.postgresQueue.endToEnd.cpuPerWebhookUs)}`, 'printed']]
      : []),
    ...(r.endToEndOneProcess ? [['End to end, one process (PROCESS_ROLE=all)', `p50 ${r.endToEndOneProcess.p50} ms, p99 ${r.endToEndOneProcess.p99} ms (write began p99 ${r.endToEndOneProcess.writeBegan.p99} ms), queue max ${r.endToEndOneProcess.queueWaitingMax}`, `${r.endToEndOneProcess.sent} webhooks at ${S.e2eRate}/s${cpuOfStream(r.endToEndOneProcess.cpuPerWebhookUs)}`, 'printed']] : []),
    [`API, ${r.api.rows.toLocaleString('en')} transactions`, `first page p99 ${r.api.firstPage.p99} ms; page ${r.api.deepPageByPage.page} p99 ${r.api.deepPageByPage.p99} ms (of ${r.api.deepPageByPage.samples}); cursor p99 ${r.api.sameDepthByCursor.p99} ms; non-2xx ${(r.api.firstPage.non2xx ?? 0) + (r.api.deepPageByPage.non2xx ?? 0) + (r.api.sameDepthByCursor.non2xx ?? 0)}`, 'by page (offset) vs by cursor', 'target cursor p99 ≤ 20 ms'],
    ['Memory', `over ${r.memory.events.toLocaleString('en')} webhooks, both warmed with ${r.memory.warmEvents.toLocaleString('en')}: API ${signed(r.memory.apiRssMb.growth)} MB (${r.memory.apiRssMb.fresh} MB fresh → ${r.memory.apiRssMb.start} → ${r.memory.apiRssMb.end}, peak ${r.memory.apiRssMb.peak}); worker ${signed(r.memory.workerRssMb.growth)} MB (${r.memory.workerRssMb.fresh} MB fresh → ${r.memory.workerRssMb.start} → ${r.memory.workerRssMb.end}, peak ${r.memory.workerRssMb.peak})`, `Redis ${r.memory.redisBytesPerQueuedEvent} B per queued event`, 'target growth ≤ 50 MB'],
  ];
  return [
    `Run ${r.when}${r.quick ? ' (--quick)' : ''} on ${r.machine.cpus} × ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; load from separate processes on the same cores.`,
    // the targets are set for the full sizes: a --quick table is a smoke run, not a verdict
    ...(r.quick
      ? ['', `--quick: ${sizes(S)}; the targets are for the full run's: ${sizes(FULL)}.`]
      : []),
    '',
    '| measure | Partner Ledger | baseline, same run | ratio / target |',
    '|---|---|---|---|',
    ...rows.map((c) => `| ${c.join(' | ')} |`),
    '',
  ].join('\n');
}

/** latest.json and latest.md in bench/results; the table, for printing. */
export function writeResults(results: Record<string, unknown>): string {
  writeFileSync(new URL('./results/latest.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
  const md = markdown(results);
  writeFileSync(new URL('./results/latest.md', import.meta.url), md);
  return md;
}
