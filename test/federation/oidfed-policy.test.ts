/**
 * Metadata policy (OpenID Federation 1.0 §6.1) as data: each vector gives the
 * policies from the anchor down, the leaf metadata, and either the resolved
 * metadata or the parameter the `metadata_policy_error` names. Then the
 * naming-constraint matcher.
 */
import t from 'tap';
import { FederationTrustError, mergePolicies, nameMatches, resolveMetadata, type PolicyLayer } from '../../federation/oidfed/index.js';

type Params = Record<string, unknown>;
interface Vector {
  name: string;
  /** Operators on `t.p` per layer, anchor first. */
  ops: Params[];
  /** The leaf's `t` parameters; `t.p` is the one under test. */
  leaf: Params;
  crit?: string[];
  /** The superior's `metadata` claim for `t`. */
  superior?: Params;
  expect?: Params;
  /** When set, the error is expected (metadata_policy_error on `t.p`). */
  error?: true;
}

const V: Vector[] = [
  // value
  { name: 'value overrides', ops: [{ value: 'x' }], leaf: { p: 'y' }, expect: { p: 'x' } },
  { name: 'value sets an absent parameter', ops: [{ value: ['a'] }], leaf: {}, expect: { p: ['a'] } },
  { name: 'value null removes', ops: [{ value: null }], leaf: { p: 'y', q: 1 }, expect: { q: 1 } },
  { name: 'equal values merge', ops: [{ value: 'x' }, { value: 'x' }], leaf: {}, expect: { p: 'x' } },
  { name: 'values compare as JSON, key order aside', ops: [{ value: { a: 1, b: 2 } }, { value: { b: 2, a: 1 } }], leaf: {}, expect: { p: { a: 1, b: 2 } } },
  { name: 'conflicting values', ops: [{ value: 'x' }, { value: 'z' }], leaf: {}, error: true },
  { name: 'value null cannot be essential', ops: [{ value: null }, { essential: true }], leaf: {}, error: true },
  // add
  { name: 'add to an absent parameter', ops: [{ add: ['a'] }], leaf: {}, expect: { p: ['a'] } },
  { name: 'add unions without duplicates', ops: [{ add: ['a', 'b'] }], leaf: { p: ['b', 'c'] }, expect: { p: ['b', 'c', 'a'] } },
  { name: 'add merges as a union', ops: [{ add: ['a'] }, { add: ['b'] }], leaf: {}, expect: { p: ['a', 'b'] } },
  { name: 'add needs an array parameter', ops: [{ add: ['a'] }], leaf: { p: 'scalar' }, error: true },
  { name: 'add must be within value', ops: [{ value: ['a'] }, { add: ['b'] }], leaf: {}, error: true },
  { name: 'add cannot meet one_of', ops: [{ one_of: ['a'] }, { add: ['a'] }], leaf: {}, error: true },
  { name: 'add must be within subset_of', ops: [{ subset_of: ['a'] }, { add: ['b'] }], leaf: {}, error: true },
  // default
  { name: 'default fills an absent parameter', ops: [{ default: 'd' }], leaf: {}, expect: { p: 'd' } },
  { name: 'default leaves a present one', ops: [{ default: 'd' }], leaf: { p: 'mine' }, expect: { p: 'mine' } },
  { name: 'conflicting defaults', ops: [{ default: 'd' }, { default: 'e' }], leaf: {}, error: true },
  { name: 'default null is refused', ops: [{ default: null }], leaf: {}, error: true },
  // one_of
  { name: 'one_of accepts a member', ops: [{ one_of: ['a', 'b'] }], leaf: { p: 'b' }, expect: { p: 'b' } },
  { name: 'one_of refuses a stranger', ops: [{ one_of: ['a', 'b'] }], leaf: { p: 'c' }, error: true },
  { name: 'one_of ignores an absent parameter', ops: [{ one_of: ['a'] }], leaf: {}, expect: {} },
  { name: 'one_of refuses an array parameter', ops: [{ one_of: ['a'] }], leaf: { p: ['a'] }, error: true },
  { name: 'one_of merges as an intersection', ops: [{ one_of: ['a', 'b'] }, { one_of: ['b', 'c'] }], leaf: { p: 'a' }, error: true },
  { name: 'disjoint one_of', ops: [{ one_of: ['a'] }, { one_of: ['b'] }], leaf: {}, error: true },
  { name: 'empty one_of', ops: [{ one_of: [] }], leaf: {}, error: true },
  { name: 'value must be one of one_of', ops: [{ one_of: ['a'] }, { value: 'b' }], leaf: {}, error: true },
  { name: 'one_of cannot meet subset_of', ops: [{ one_of: ['a'] }, { subset_of: ['a'] }], leaf: {}, error: true },
  // subset_of
  { name: 'subset_of intersects', ops: [{ subset_of: ['a', 'b'] }], leaf: { p: ['b', 'c', 'a'] }, expect: { p: ['b', 'a'] } },
  { name: 'subset_of merges as an intersection', ops: [{ subset_of: ['a', 'b'] }, { subset_of: ['b', 'c'] }], leaf: { p: ['a', 'b', 'c'] }, expect: { p: ['b'] } },
  { name: 'an empty intersection removes the parameter', ops: [{ subset_of: ['a'] }], leaf: { p: ['z'] }, expect: {} },
  { name: 'an empty intersection of an essential parameter', ops: [{ subset_of: ['a'], essential: true }], leaf: { p: ['z'] }, error: true },
  { name: 'subset_of needs an array parameter', ops: [{ subset_of: ['a'] }], leaf: { p: 'a' }, error: true },
  { name: 'value must be within subset_of', ops: [{ subset_of: ['a'] }, { value: ['a', 'b'] }], leaf: {}, error: true },
  // superset_of
  { name: 'superset_of accepts a superset', ops: [{ superset_of: ['a'] }], leaf: { p: ['a', 'b'] }, expect: { p: ['a', 'b'] } },
  { name: 'superset_of refuses a missing value', ops: [{ superset_of: ['a', 'c'] }], leaf: { p: ['a', 'b'] }, error: true },
  { name: 'superset_of merges as a union', ops: [{ superset_of: ['a'] }, { superset_of: ['b'] }], leaf: { p: ['a'] }, error: true },
  { name: 'superset_of must be within subset_of', ops: [{ subset_of: ['a'] }, { superset_of: ['b'] }], leaf: {}, error: true },
  { name: 'subset_of then superset_of', ops: [{ subset_of: ['a', 'b'], superset_of: ['a'] }], leaf: { p: ['a', 'z'] }, expect: { p: ['a'] } },
  // essential
  { name: 'essential and absent', ops: [{ essential: true }], leaf: {}, error: true },
  { name: 'not essential and absent', ops: [{ essential: false }], leaf: {}, expect: {} },
  { name: 'a subordinate cannot relax essential', ops: [{ essential: true }, { essential: false }], leaf: {}, error: true },
  { name: 'essential is satisfied by a default', ops: [{ essential: true }, { default: 'd' }], leaf: {}, expect: { p: 'd' } },
  { name: 'essential must be a boolean', ops: [{ essential: 'yes' }], leaf: { p: 1 }, error: true },
  // unknown operators
  { name: 'an unknown operator is ignored', ops: [{ regexp: '^a$' }], leaf: { p: 'b' }, expect: { p: 'b' } },
  { name: 'an unknown critical operator refuses', ops: [{ regexp: '^a$' }], crit: ['regexp'], leaf: { p: 'b' }, error: true },
  // the superior's metadata claim comes before policy
  { name: "the superior's metadata overrides the leaf's", ops: [{ one_of: ['s'] }], superior: { p: 's' }, leaf: { p: 'leaf' }, expect: { p: 's' } },
];

for (const v of V) {
  t.test(v.name, async (t) => {
    const layers: PolicyLayer[] = v.ops.map((ops, i) => ({ policy: { t: { p: ops } }, ...(i === 0 && v.crit ? { crit: v.crit } : {}) }));
    const run = () => resolveMetadata({ t: v.leaf }, v.superior ? { t: v.superior } : undefined, layers);
    if (v.error) {
      t.throws(run, { name: 'FederationTrustError', code: 'metadata_policy_error', details: { parameter: 't.p' } });
    } else {
      t.same(run(), { t: v.expect });
    }
  });
}

t.test('a policy for an entity type the leaf lacks is ignored', async (t) => {
  t.same(resolveMetadata({ a: { p: 1 } }, undefined, [{ policy: { b: { p: { essential: true } } } }]), { a: { p: 1 } });
});

t.test('merge result is the combined operator set', async (t) => {
  t.same(
    mergePolicies([
      { policy: { t: { p: { subset_of: ['a', 'b', 'c'], essential: true } } } },
      { policy: { t: { p: { subset_of: ['b', 'c', 'd'], superset_of: ['b'], essential: false } } } },
    ]),
    { t: { p: { subset_of: ['b', 'c'], superset_of: ['b'], essential: true } } },
  );
  t.ok(new FederationTrustError('metadata_policy_error', 'x') instanceof Error);
});

t.test('naming constraints match hosts the RFC 5280 way', async (t) => {
  const cases: [string, string, boolean][] = [
    ['node.example.com', '.example.com', true],
    ['a.b.example.com', '.example.com', true],
    ['example.com', '.example.com', false],
    ['badexample.com', '.example.com', false],
    ['example.com', 'example.com', true],
    ['node.example.com', 'example.com', false],
    ['Node.Example.com', 'node.example.COM', true],
    ['127.0.0.1', '127.0.0.1', true],
    ['127.0.0.10', '127.0.0.1', false],
    ['node.example.com', 'https://node.example.com/x', true],
    ['node.example.com', '', false],
  ];
  for (const [host, entry, expected] of cases) t.equal(nameMatches(host, entry), expected, `${host} ~ ${entry || '(empty)'}`);
});
