// PostgreSQL's disk full: the inbox (webhook_events and its indexes) lives on a tablespace of its own,
// on a small tmpfs mounted for the test, which is then filled to the last byte. Deliveries are
// answered 503 with Retry-After (SQLSTATE 53100 disk_full, "could not extend file"), never 500; an
// insert that failed left nothing behind (no inbox row, no job); the "gateway" retries once space is
// freed, and every event is processed exactly once. Where mounting is not permitted (not root, no
// CAP_SYS_ADMIN), a trigger raising disk_full on insert into webhook_events stands in for the full
// disk, and the figures say so (`method`; RELIABILITY_DISK_FULL=trigger chooses it). WAL and the rest of the database stay on the ordinary disk:
// a full WAL disk makes PostgreSQL stop (PANIC), which is the PostgreSQL outage scenario.
import { execFileSync } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { paymentJobId } from '../../src/queue/queues.js';
import { makeSales, paymentDelivery, pool, prng, type Delivery } from '../support/deliveries.js';
import { stopAllServices } from '../support/processes.js';
import { startTempPostgres, type TempPostgres } from '../support/temp-postgres.js';
import { deploy, drained, expectedRewards, ledgerFigures, PARTNERS, queueCounts, report, type Deployment } from './harness.js';

const BEFORE = 300;
const DURING = 120;
const LANES = 4;
const TMPFS_SIZE = '8m';

type DiskFull = {
  method: 'tmpfs tablespace' | 'trigger raising disk_full';
  /** Bytes written to fill the disk (0 for the trigger). */
  filledBytes: number;
  fill(): Promise<void>;
  free(): Promise<void>;
  remove(): Promise<void>;
};

const mounts = new Set<string>();
process.once('exit', () => {
  for (const dir of mounts) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // nothing more to do on exit
    }
  }
});

/** The inbox on a small tmpfs of its own (as root), or the trigger where mounting is not permitted. */
async function smallDiskForInbox(admin: pg.Client): Promise<DiskFull> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pl-disk-'));
  let mounted = false;
  if (process.getuid?.() === 0 && process.env.RELIABILITY_DISK_FULL !== 'trigger') {
    try {
      const uid = execFileSync('id', ['-u', 'postgres']).toString().trim();
      const gid = execFileSync('id', ['-g', 'postgres']).toString().trim();
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700,uid=${uid},gid=${gid}`, 'tmpfs', dir], { stdio: 'pipe' });
      mounted = true;
      mounts.add(dir);
      mkdirSync(path.join(dir, 'ts'));
      chownSync(path.join(dir, 'ts'), Number(uid), Number(gid));
    } catch {
      mounted = false;
    }
  }
  if (!mounted) {
    rmSync(dir, { recursive: true, force: true });
    await admin.query(`create function test_disk_full() returns trigger language plpgsql as $$
      begin raise exception 'could not extend file (test trigger): No space left on device' using errcode = 'disk_full'; end $$`);
    const d: DiskFull = {
      method: 'trigger raising disk_full',
      filledBytes: 0,
      fill: async () => void (await admin.query('create trigger test_disk_full before insert on webhook_events for each row execute function test_disk_full()')),
      free: async () => void (await admin.query('drop trigger test_disk_full on webhook_events')),
      remove: async () => {},
    };
    return d;
  }
  // the inbox table (its TOAST table goes with it) and every index of it, on the small disk
  await admin.query(`create tablespace pl_small_disk location '${path.join(dir, 'ts')}'`);
  await admin.query('alter table webhook_events set tablespace pl_small_disk');
  const { rows } = await admin.query<{ indexname: string }>(`select indexname from pg_indexes where tablename = 'webhook_events'`);
  for (const r of rows) await admin.query(`alter index ${r.indexname} set tablespace pl_small_disk`);
  const filler = path.join(dir, 'filler');
  const d: DiskFull = {
    method: 'tmpfs tablespace',
    filledBytes: 0,
    async fill() {
      // big writes, then small ones, until the disk refuses even 512 bytes
      const fd = openSync(filler, 'w');
      try {
        for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
          const chunk = Buffer.alloc(size, 0x78);
          for (;;) {
            try {
              // near the end a write may be short; the next one then fails
              d.filledBytes += writeSync(fd, chunk);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    async free() {
      unlinkSync(filler);
    },
    async remove() {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      mounts.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return d;
}

describe('PostgreSQL disk full', () => {
  it('the inbox cannot grow: 503 with Retry-After and nothing half-written; once space is freed, the retries land and every event is processed once', { timeout: 420_000 }, async () => {
    const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
    let server: TempPostgres | undefined;
    let d: Deployment | undefined;
    let disk: DiskFull | undefined;
    let admin: pg.Client | undefined;
    try {
      server = await startTempPostgres();
      d = await deploy({ workers: 1, databaseUrl: server.url('partner_ledger') });
      const dep = d;
      admin = new pg.Client({ connectionString: server.url('partner_ledger') });
      await admin.connect();
      disk = await smallDiskForInbox(admin);

      const sales = makeSales(BEFORE + DURING, { tag: `df${seed.toString(36)}`, random: prng(seed), partners: PARTNERS, customers: 200 });
      const deliveries = sales.map(paymentDelivery);
      const statuses: Record<string, number> = {};
      const acked = new Set<Delivery>();
      const refusedWithoutRetryAfter: string[] = [];
      const deliver = async (e: Delivery) => {
        let status = 0;
        try {
          const res = await fetch(`${dep.api.url}/webhooks/${e.gateway}`, {
            method: 'POST',
            body: new Uint8Array(e.body),
            headers: e.headers(),
            signal: AbortSignal.timeout(15_000),
          });
          status = res.status;
          if (status === 503 && !res.headers.get('retry-after')) refusedWithoutRetryAfter.push(e.eventId);
          await res.arrayBuffer();
        } catch {
          // no answer (a network error or the timeout): status 0
        }
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status >= 200 && status < 300) acked.add(e);
        return status;
      };

      await pool(deliveries.slice(0, BEFORE), LANES, deliver);
      expect(acked.size).toBe(BEFORE);
      await drained(dep, BEFORE, 120_000);

      // the disk fills up
      await disk.fill();
      const fullAt = Date.now();
      const during = deliveries.slice(BEFORE);
      const duringStatuses: Record<string, number> = {};
      await pool(during, LANES, async (e) => {
        const s = await deliver(e);
        duringStatuses[s] = (duringStatuses[s] ?? 0) + 1;
      });
      // nothing half-written: a refused delivery has no inbox row and no job; an accepted one has both
      const refused = during.filter((e) => !acked.has(e));
      const ids = (list: Delivery[]) => list.map((e) => e.eventId);
      const { rows: inboxOfRefused } = await admin.query<{ n: number }>('select count(*)::int as n from webhook_events where event_id = any($1)', [ids(refused)]);
      let refusedWithJob = 0;
      for (const e of refused) if (await dep.queue.getJob(paymentJobId(dep.programId, e.gateway, e.eventId))) refusedWithJob++;
      const acceptedWhileFull = during.filter((e) => acked.has(e));
      const { rows: inboxOfAccepted } = await admin.query<{ n: number }>('select count(*)::int as n from webhook_events where event_id = any($1)', [ids(acceptedWhileFull)]);
      let acceptedWithoutJob = 0;
      for (const e of acceptedWhileFull) if (!(await dep.queue.getJob(paymentJobId(dep.programId, e.gateway, e.eventId)))) acceptedWithoutJob++;
      // what the receiver saw: SQLSTATE 53100 in its log lines
      const apiLines = dep.api.output().split('\n').filter((l) => l.includes('"msg":"inbox unavailable"'));
      const diskFullLines = apiLines.filter((l) => l.includes('"sqlstate":"53100"'));
      const sampleError = (JSON.parse(diskFullLines[0] ?? '{}') as { err?: string }).err ?? '';
      // stay full a little longer: the worker's writes of the accepted events meet the full disk too
      await new Promise((r) => setTimeout(r, 5000));
      const queueWhileFull = await queueCounts(dep.queue);
      const aliveWhileFull = [dep.api, ...dep.workers].every((p) => p.alive());

      // space comes back; the gateway retries what was refused, with backoff, until it is acknowledged
      await disk.free();
      const fullSeconds = (Date.now() - fullAt) / 1000;
      const freedAt = Date.now();
      let rounds = 0;
      const retryStatuses: Record<string, number> = {};
      for (; rounds < 20 && acked.size < BEFORE + DURING; rounds++) {
        await new Promise((r) => setTimeout(r, 500 * 2 ** Math.min(rounds, 3)));
        await pool(
          deliveries.filter((e) => !acked.has(e)),
          LANES,
          async (e) => {
            const s = await deliver(e);
            retryStatuses[s] = (retryStatuses[s] ?? 0) + 1;
          },
        );
      }
      const drain = await drained(dep, BEFORE + DURING, 180_000);
      const ledger = await ledgerFigures(dep.db.db);
      const q = await queueCounts(dep.queue);
      const alive = [dep.api, ...dep.workers].every((p) => p.alive());
      const completed = await dep.queue.getJobs(['completed'], 0, -1);
      const retried = completed.filter((j) => j.attemptsMade > 1).length;

      report('disk-full', {
        seed,
        method: disk.method,
        tmpfs: disk.method === 'tmpfs tablespace' ? TMPFS_SIZE : null,
        filledBytes: disk.filledBytes,
        events: BEFORE + DURING,
        deliveriesWhileFull: duringStatuses,
        refusedWithoutRetryAfter: refusedWithoutRetryAfter.length,
        inboxRowsOfRefused: inboxOfRefused[0]!.n,
        jobsOfRefused: refusedWithJob,
        acceptedWhileFull: { deliveries: acceptedWhileFull.length, inboxRows: inboxOfAccepted[0]!.n, withoutJob: acceptedWithoutJob },
        receiverLog: { inboxUnavailable: apiLines.length, sqlstate53100: diskFullLines.length, sample: sampleError.slice(0, 160) },
        queueWhileFull: { waiting: queueWhileFull.waiting, active: queueWhileFull.active, delayed: queueWhileFull.delayed, failed: queueWhileFull.failed },
        aliveWhileFull,
        fullSeconds,
        retryRounds: rounds,
        retryStatuses,
        allAnswers: statuses,
        drainedSecondsAfterFreeing: (Date.now() - freedAt) / 1000,
        inbox: drain.inbox,
        jobs: { completed: q.completed, failed: q.failed, retried },
        transactions: ledger.transactions,
        rewards: ledger.rewards,
        transactionsWithSeveralRewards: ledger.transactionsWithSeveralRewards,
        alive,
      });

      expect(Object.keys(statuses).sort()).toEqual(['200', '503']);
      // the last pages of the table and its indexes take a few more rows; most deliveries are refused
      expect(duringStatuses['503']).toBeGreaterThanOrEqual(DURING * 0.6);
      expect(refusedWithoutRetryAfter).toEqual([]);
      expect(inboxOfRefused[0]!.n).toBe(0);
      expect(refusedWithJob).toBe(0);
      expect(inboxOfAccepted[0]!.n).toBe(acceptedWhileFull.length);
      expect(acceptedWithoutJob).toBe(0);
      expect(diskFullLines.length).toBe(apiLines.length);
      expect(acked.size).toBe(BEFORE + DURING);
      expect(drain.inbox).toEqual({ processed: BEFORE + DURING });
      expect(q.failed).toBe(0);
      expect(ledger.transactions).toBe(BEFORE + DURING);
      expect(ledger.rewards).toBe(BEFORE + DURING);
      expect(ledger.transactionsWithSeveralRewards).toBe(0);
      expect(ledger.rewardTotals).toEqual(expectedRewards(sales));
      expect(aliveWhileFull && alive).toBe(true);
    } catch (err) {
      if (process.env.RELIABILITY_DEBUG) for (const p of [d?.api, ...(d?.workers ?? [])]) if (p) console.log(`[debug] ${p.name}:\n${p.output().slice(-8000)}`);
      throw err;
    } finally {
      await d?.stop();
      await admin?.end().catch(() => {});
      await server?.destroy();
      await disk?.remove().catch(() => {});
      await stopAllServices();
    }
  });
});
