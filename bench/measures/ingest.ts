// 1. Ingest: signed Stripe webhooks at 50 connections against the API process, beside bare express
// (and, in a full run, the two ingest floors), in turns.
import { QUICK, S, SECRET, REDIS_URL, dbUrl, prefix, run } from '../options.js';
import { log, round } from '../print.js';
import { firstLine, load, service, start, stop, type LoadFigures } from '../processes.js';
import { cpuLine, cpuPerEvent, cpuSeconds, rssMb } from '../proc-stats.js';

/** Requests/s over all bursts, latency percentiles over all requests. */
function combined(bursts: LoadFigures[]) {
  const latencies = bursts.flatMap((b) => b.latencies ?? []).sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  const requests = bursts.reduce((n, b) => n + b.requests, 0);
  const seconds = bursts.reduce((t, b) => t + (b.rps ? b.requests / b.rps : 0), 0);
  return { requests, rps: seconds ? requests / seconds : 0, p50: q(0.5), p99: q(0.99), non2xx: bursts.reduce((n, b) => n + b.non2xx, 0), errors: bursts.reduce((n, b) => n + b.errors, 0) };
}

export async function ingest(programId: string) {
  log('1. ingest: signed Stripe webhooks, 50 connections');
  const bare = start(['bench/bare-server.ts'], {}, 'bare express');
  // the floors (bench/ingest-floor.ts): the service's own verification and stores and nothing else,
  // behind node's http server, and behind an express route reading the body as bare express does (the
  // least a receiver on the chosen stack can do); not in --quick, whose minute they would outgrow
  const floorEnv = (http: 'node' | 'express') => ({ DATABASE_URL: dbUrl, REDIS_URL, QUEUE_PREFIX: prefix, PROGRAM_ID: programId, STRIPE_WEBHOOK_SECRET: SECRET, FLOOR_HTTP: http });
  const floor = QUICK ? undefined : start(['bench/ingest-floor.ts'], floorEnv('node'), 'ingest floor');
  const expressFloor = QUICK ? undefined : start(['bench/ingest-floor.ts'], floorEnv('express'), 'ingest floor on express');
  const [barePort, floorPort, expressFloorPort, api] = await Promise.all([
    firstLine(bare).then(Number),
    floor ? firstLine(floor).then(Number) : 0,
    expressFloor ? firstLine(expressFloor).then(Number) : 0,
    service('api', 3901),
  ]);
  const rssBefore = rssMb(api);
  const urls = {
    bare: `http://127.0.0.1:${barePort}/webhooks/stripe`,
    service: 'http://127.0.0.1:3901/webhooks/stripe',
    floor: `http://127.0.0.1:${floorPort}/webhooks/stripe`,
    expressFloor: `http://127.0.0.1:${expressFloorPort}/webhooks/stripe`,
  };
  type Server = keyof typeof urls;
  // each server's own event ids (`evt_<tag><run>_…`), apart from each other and from the later measures'
  const tags: Record<Server, string> = { bare: 'b', service: 's', floor: 'f', expressFloor: 'x' };
  const servers: Server[] = floor ? ['bare', 'service', 'floor', 'expressFloor'] : ['bare', 'service'];
  const pids = { bare: bare.pid, service: api.pid, floor: floor?.pid, expressFloor: expressFloor?.pid };
  const burst = (to: Server, ms: number, runId: string) =>
    load({ url: urls[to], connections: 50, durationMs: ms, body: 'stripe', secret: SECRET, runId, latencies: true });
  // each server warmed first for a second, unmeasured (a fresh process compiles as it goes)
  for (const to of servers) await burst(to, 1000, `${tags[to]}w${run}`);
  // then measured in turns, a short burst each, so that a slower minute of this shared machine
  // weighs on all figures alike (the ratio is what is tracked)
  const rounds = QUICK ? 3 : 5;
  const each = S.ingestMs / rounds;
  const got: Record<Server, LoadFigures[]> = { bare: [], service: [], floor: [], expressFloor: [] };
  // CPU used while each server was measured: the server process, PostgreSQL and Redis (the load
  // generator's own is left out). With every core busy, the ratio is about these sums' ratio.
  const zero = () => ({ own: 0, postgres: 0, redis: 0 });
  const used = { bare: zero(), service: zero(), floor: zero(), expressFloor: zero() };
  for (let i = 0; i < rounds; i++) {
    for (const to of i % 2 ? [...servers].reverse() : servers) {
      const before = cpuSeconds([pids[to]]);
      got[to].push(await burst(to, each, `${tags[to]}${run}_${i}`));
      const after = cpuSeconds([pids[to]]);
      for (const k of ['own', 'postgres', 'redis'] as const) used[to][k] += after[k] - before[k];
    }
  }
  await stop(bare);
  if (floor) await stop(floor);
  if (expressFloor) await stop(expressFloor);
  const baseline = combined(got.bare);
  const measured = combined(got.service);
  const rssAfter = rssMb(api);
  await stop(api);
  const lowest = floor ? combined(got.floor) : undefined;
  const lowestOnExpress = expressFloor ? combined(got.expressFloor) : undefined;
  const floorFigures = (f: ReturnType<typeof combined>) => ({
    rps: round(f.rps),
    p50: round(f.p50, 2),
    p99: round(f.p99, 2),
    non2xx: f.non2xx + f.errors,
    ratio: round(f.rps / baseline.rps, 2),
    // the service's rate against the floor's: what its own layers leave of what the stores allow
    serviceRatio: round(measured.rps / f.rps, 2),
  });
  const r = {
    baseline: { rps: round(baseline.rps), p50: round(baseline.p50, 2), p99: round(baseline.p99, 2) },
    service: { rps: round(measured.rps), p50: round(measured.p50, 2), p99: round(measured.p99, 2), non2xx: measured.non2xx + measured.errors, requests: measured.requests },
    ratio: round(measured.rps / baseline.rps, 2),
    floor: lowest && floorFigures(lowest),
    expressFloor: lowestOnExpress && floorFigures(lowestOnExpress),
    apiRssMb: { before: round(rssBefore), after: round(rssAfter), requests: measured.requests },
    // µs of CPU per request: the server process, PostgreSQL, Redis
    cpuPerRequestUs: {
      bare: cpuPerEvent(zero(), used.bare, baseline.requests),
      service: cpuPerEvent(zero(), used.service, measured.requests),
      floor: lowest && cpuPerEvent(zero(), used.floor, lowest.requests),
      expressFloor: lowestOnExpress && cpuPerEvent(zero(), used.expressFloor, lowestOnExpress.requests),
    },
  };
  log(`   bare express ${r.baseline.rps} req/s · service ${r.service.rps} req/s (× ${r.ratio}), p99 ${r.service.p99} ms, non-2xx ${r.service.non2xx}`);
  if (r.floor) log(`   floor (node http, verification, inbox, queue) ${r.floor.rps} req/s (× ${r.floor.ratio}), p99 ${r.floor.p99} ms, non-2xx ${r.floor.non2xx}; the service × ${r.floor.serviceRatio} of it`);
  if (r.expressFloor) log(`   floor on express (the same behind an express route) ${r.expressFloor.rps} req/s (× ${r.expressFloor.ratio}), p99 ${r.expressFloor.p99} ms, non-2xx ${r.expressFloor.non2xx}; the service × ${r.expressFloor.serviceRatio} of it`);
  const cpu = r.cpuPerRequestUs;
  log(`   CPU per request: bare ${cpuLine(cpu.bare)} · service ${cpuLine(cpu.service)}${cpu.floor ? ` · floor ${cpuLine(cpu.floor)}` : ''}${cpu.expressFloor ? ` · floor on express ${cpuLine(cpu.expressFloor)}` : ''}`);
  return r;
}
