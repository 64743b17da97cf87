// docker-compose.yml passes every setting of src/config.ts through to the containers, .env.example
// lists every one with the default docs/configuration.md gives, and the stores publish no host port.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (p: string) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');
const config = read('src/config.ts');
const schema = /const Env = z\.object\(\{([\s\S]*?)\n\}\)/.exec(config)![1]!;
const variables = [...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
const compose = read('docker-compose.yml');
const example = read('.env.example');
const docs = read('docs/configuration.md');

describe('docker compose and .env.example', () => {
  it('finds the settings', () => {
    expect(variables.length).toBeGreaterThan(40);
    expect(variables).toContain('API_KEY');
  });

  it.each(variables)('%s reaches the containers, is in .env.example and documented', (name) => {
    expect(compose).toMatch(new RegExp(`^\\s+${name}:`, 'm'));
    expect(example).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
    expect(docs).toContain(`\`${name}\``);
  });

  it('.env.example gives the documented defaults', () => {
    for (const [name, value] of [
      ['WORKER_CONCURRENCY', '750'],
      ['QUEUE_PREFIX', 'pl'],
      ['INBOX_RETENTION_DAYS', '90'],
      ['DEFAULT_PROGRAM_NAME', 'Default program'],
    ] as const) {
      expect(example).toContain(`\n${name}=${value}\n`);
      expect(docs).toContain(`| \`${name}\` | \`${value}\` |`);
    }
  });

  it('does not publish PostgreSQL or Redis on the host by default; builds one image for api and worker; checks the worker', () => {
    const services = compose.split(/\n {2}(?=[a-z]+:\n)/);
    const block = (name: string) => services.find((s) => s.startsWith(`${name}:`))!;
    expect(block('postgres')).not.toMatch(/ports:/);
    expect(block('redis')).not.toMatch(/ports:/);
    expect(compose.match(/build: \./g)).toHaveLength(1);
    expect(block('worker')).toMatch(/healthcheck:\n\s+test: .*9464\/metrics/);
    expect(read('docker-compose.stores.yml')).toContain('127.0.0.1:${POSTGRES_HOST_PORT:-5432}:5432');
  });
});
