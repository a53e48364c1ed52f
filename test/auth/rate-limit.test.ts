/**
 * Token buckets per canonical principal: exact burst, refill, Retry-After,
 * overrides, shared buckets across credentials, bounded memory.
 */
import t from 'tap';
import { RateLimiter, DEFAULT_RATE_LIMITS, type RateLimitConfig } from '../../src/auth/rate-limit.js';
import type { Identity } from '../../src/auth/identity.js';

const person = (sub: string, groups: string[] = []): Identity => ({
  kind: 'oauth',
  subject: sub,
  groups,
  scopes: [],
  principal: `oauth:https://idp#${sub}`,
  class: 'person',
});

t.test('defaults: person 100/min burst 200, agent 500/1000, tenant 2000/min', async (t) => {
  t.same(DEFAULT_RATE_LIMITS.defaults.person, { perMinute: 100, burst: 200 });
  t.same(DEFAULT_RATE_LIMITS.defaults.agent, { perMinute: 500, burst: 1000 });
  t.equal(DEFAULT_RATE_LIMITS.defaults.tenant.perMinute, 2000);
});

t.test('exactly burst calls pass, the next is refused with an integer Retry-After, then allowed again', async (t) => {
  let now = 1_000_000;
  const limiter = new RateLimiter(DEFAULT_RATE_LIMITS, () => now);
  const alice = person('alice');
  for (let i = 0; i < 200; i++) t.equal(limiter.take(alice).allowed, true, `call ${i + 1} allowed`);
  const refused = limiter.take(alice);
  t.equal(refused.allowed, false, 'call 201 refused');
  if (!refused.allowed) {
    t.ok(Number.isInteger(refused.retryAfterSeconds) && refused.retryAfterSeconds >= 1, 'integer Retry-After');
    t.equal(refused.retryAfterSeconds, 1, '100/min refills one token in 0.6 s: retry after 1 s');
    now += refused.retryAfterSeconds * 1000;
  }
  t.equal(limiter.take(alice).allowed, true, 'allowed again after Retry-After');
  t.equal(limiter.take(alice).allowed, false, 'and only that one');
});

t.test('the same principal through different credentials shares one bucket; others are unaffected', async (t) => {
  const limiter = new RateLimiter({ ...DEFAULT_RATE_LIMITS, defaults: { ...DEFAULT_RATE_LIMITS.defaults, tenant: { perMinute: 60, burst: 3 } } }, () => 0);
  const key1: Identity = { kind: 'apikey', subject: 'acme', tenant: 'acme', groups: [], scopes: [], principal: 'tenant:acme', class: 'tenant' };
  const key2: Identity = { ...key1, subject: 'acme' };
  t.equal(limiter.take(key1).allowed, true);
  t.equal(limiter.take(key2).allowed, true);
  t.equal(limiter.take(key1).allowed, true);
  t.equal(limiter.take(key2).allowed, false, 'the tenant bucket is shared by its keys');
  t.equal(limiter.take({ ...key1, tenant: 'other', principal: 'tenant:other' }).allowed, true, 'another tenant has its own bucket');
});

t.test('overrides: tenant > most generous group > class default', async (t) => {
  const config: RateLimitConfig = {
    ...DEFAULT_RATE_LIMITS,
    groups: { ops: { perMinute: 1000, burst: 5 }, slow: { perMinute: 10, burst: 2 } },
    tenants: { acme: { perMinute: 5, burst: 1 } },
  };
  const limiter = new RateLimiter(config, () => 0);
  t.same(limiter.ruleFor(person('a', ['slow', 'ops'])), config.groups.ops);
  t.same(limiter.ruleFor(person('b')), config.defaults.person);
  t.same(limiter.ruleFor({ ...person('c', ['ops']), tenant: 'acme' }), config.tenants.acme);
});

t.test('memory stays bounded under a million distinct identities', async (t) => {
  let now = 0;
  const limiter = new RateLimiter({ ...DEFAULT_RATE_LIMITS, maxTracked: 10_000 }, () => now);
  const churn = person('churn');
  for (let i = 0; i < 1_000_000; i++) {
    now += 0.01;
    churn.principal = `u${i}`;
    limiter.take(churn);
  }
  t.ok(limiter.tracked <= 10_000, `tracked buckets ${limiter.tracked} ≤ 10000`);
  // A heavy user in the middle of the churn keeps its (empty) bucket: it is not at rest.
  const heavy = person('heavy');
  for (let i = 0; i < 200; i++) limiter.take(heavy);
  for (let i = 0; i < 20_000; i++) {
    churn.principal = `v${i}`;
    limiter.take(churn);
  }
  t.equal(limiter.take(heavy).allowed, false, 'churn evicts fuller buckets first: the exhausted one is kept');
});
