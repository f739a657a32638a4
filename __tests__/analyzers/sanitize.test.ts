import { toFinding } from '../../analyzers/sanitize';

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

  it('makes evidence JSON-safe: non-finite numbers, BigInts, functions, cycles and throwing getters', () => {
    const evidence: Record<string, unknown> = { nan: Number.NaN, big: 10n, fn: function scorer() {}, when: new Date(0), err: new TypeError('bad') };
    evidence.self = evidence;
    Object.defineProperty(evidence, 'boom', { enumerable: true, get: () => { throw new Error('no'); } });
    const r = toFinding({ kind: 'x', severity: 'info', message: 'm', evidence });
    expect(r).toEqual({
      finding: {
        kind: 'x',
        severity: 'info',
        message: 'm',
        evidence: { nan: 'NaN', big: '10', fn: '[Function scorer]', when: '1970-01-01T00:00:00.000Z', err: { name: 'TypeError', message: 'bad' }, self: '[Circular]', boom: '[Unreadable]' },
      },
    });
    expect(() => JSON.stringify(r)).not.toThrow();
  });

  it('drops evidence that is not an object and stringifies a non-string message', () => {
    expect(toFinding({ kind: 'x', severity: 'info', message: 42, evidence: [1] })).toEqual({ finding: { kind: 'x', severity: 'info', message: '42' } });
  });
});
