// 4. API at scale: GET /v1/transactions over many rows in one program: the first page, a deep page by
// `page` (offset) and the same depth by cursor.
import { createHash } from 'node:crypto';
import { settle, sql } from '../database.js';
import { S, run } from '../options.js';
import { log, round } from '../print.js';
import { load, service, stop } from '../processes.js';

const DEEP_PAGE_SAMPLES = 20;

export async function apiAtScale() {
  log(`4. API at scale: ${S.apiRows.toLocaleString('en')} transactions in one program`);
  const programId = (await sql.query(`insert into programs (slug, name, commission, public_key, signing_secret) values ($1, 'bench scale', '{"type":"percent","value":"20","rules":[],"lifetime":{"kind":"all"}}', $2, 's') returning id`, [`scale_${run}`, `pk_scale_${run}`])).rows[0].id as string;
  const key = `pl_scale_${run}`;
  await sql.query(`insert into api_keys (program_id, key_hash, prefix) values ($1, $2, 'pl_s')`, [programId, createHash('sha256').update(key).digest('hex')]);
  const t0 = Date.now();
  await sql.query(
    `insert into transactions (program_id, key, amount_minor, currency, gateway, created_at)
     select $1, 'scale_' || g, 1000 + g % 5000, 'USD', 'api', timestamptz '2026-01-01' + g * interval '1 second'
     from generate_series(1, $2) g`,
    [programId, S.apiRows],
  );
  // as after any bulk load: vacuumed and analyzed now, not by autovacuum in the middle of the measure
  await settle();
  const fillSeconds = (Date.now() - t0) / 1000;
  const svc = await service('api', 3903);
  // n requests one after another on one keep-alive connection, from the load generator's process (from
  // this one, fetch and this process's own work added to the cursor's p99: bench/HISTORY.md, the early
  // morning of 2026-12-02); an answer other than 2xx is counted, not timed away
  const time = async (path: string, n: number) => {
    const r = await load({ url: `http://127.0.0.1:3903${path}`, connections: 1, maxRequests: n, durationMs: 180_000, body: 'none', headers: { authorization: `Bearer ${key}` } });
    if (r.requests < n) throw new Error(`API at scale: ${r.requests} of ${n} requests to ${path} answered within 3 minutes`);
    return { p50: round(r.p50, 2), p99: round(r.p99, 2), non2xx: r.non2xx + r.errors };
  };
  const limit = 100;
  const depth = Math.floor(S.apiRows / 2);
  const page = Math.floor(depth / limit);
  // the cursor a client following links.next would hold at that depth
  const at = (await sql.query(`select (extract(epoch from created_at) * 1000000)::bigint::text as micros, id from transactions where program_id = $1 order by created_at desc, id desc offset $2 limit 1`, [programId, depth - 1])).rows[0];
  const r = {
    rows: S.apiRows,
    fillSeconds: round(fillSeconds),
    firstPage: await time(`/v1/transactions?limit=${limit}`, S.apiSamples),
    // a contrast, not a target, and each of its requests is slow at the full size: a few of them, not
    // the cursor's many, to keep the bench within its 10 minutes; their p99 is the slowest of them
    deepPageByPage: { page, samples: DEEP_PAGE_SAMPLES, ...(await time(`/v1/transactions?limit=${limit}&page=${page}`, DEEP_PAGE_SAMPLES)) },
    sameDepthByCursor: await time(`/v1/transactions?limit=${limit}&page=${page}&cursor=${at.micros}.${at.id}`, S.apiSamples),
  };
  await stop(svc);
  log(`   first page p50 ${r.firstPage.p50} / p99 ${r.firstPage.p99} ms · page ${page} by page p50 ${r.deepPageByPage.p50} / slowest of ${DEEP_PAGE_SAMPLES} ${r.deepPageByPage.p99} ms · by cursor p50 ${r.sameDepthByCursor.p50} / p99 ${r.sameDepthByCursor.p99} ms, non-2xx ${r.firstPage.non2xx + r.deepPageByPage.non2xx + r.sameDepthByCursor.non2xx}`);
  return r;
}
