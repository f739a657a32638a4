import { jsonSafe, toFinding } from '../../analyzers/sanitize';

describe('jsonSafe', () => {
  it('replaces non-finite numbers, BigInts, functions and symbols', () => {
    expect(jsonSafe({ a: Number.NaN, b: Infinity, c: 10n, d: () => 1, e: Symbol('s'), f: [1, undefined, Number.NaN] })).toEqual({ a: 0, b: 0, c: '10', f: [1, null, 0] });
  });

  it('cuts cycles, deep nesting and throwing getters', () => {
    const cyclic: Record<string, unknown> = { x: 1 };
    cyclic.self = cyclic;
    expect(jsonSafe(cyclic)).toEqual({ x: 1, self: '[Truncated]' });
    const deep = { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } };
    expect(JSON.stringify(jsonSafe(deep))).toContain('[Truncated]');
    const getter = Object.defineProperty({}, 'boom', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    expect(jsonSafe(getter)).toEqual({ boom: '[Unreadable]' });
  });

  it('keeps errors and dates readable', () => {
    expect(jsonSafe({ e: new TypeError('bad'), d: new Date(0) })).toEqual({ e: { name: 'TypeError', message: 'bad' }, d: '1970-01-01T00:00:00.000Z' });
  });
});

describe('toFinding', () => {
  it('keeps exactly the report fields', () => {
    expect(toFinding({ kind: 'x', severity: 'info', message: 'm', stage: 's', evidence: { n: 1 }, extra: true })).toEqual({
      finding: { kind: 'x', severity: 'info', message: 'm', stage: 's', evidence: { n: 1 } },
    });
  });

  it('rejects what is not a finding', () => {
    expect(toFinding(null)).toEqual({ problem: 'a finding must be an object, got null' });
    expect(toFinding({ severity: 'info', message: 'm' })).toEqual({ problem: 'a finding has no kind (a non-empty string)' });
    expect(toFinding({ kind: 'x', severity: 'fatal', message: 'm' })).toEqual({ problem: 'finding x: severity must be info, warning or error' });
  });

  it('drops evidence that is not an object and stringifies a non-string message', () => {
    expect(toFinding({ kind: 'x', severity: 'info', message: 42, evidence: [1] })).toEqual({ finding: { kind: 'x', severity: 'info', message: '42' } });
  });
});
