import fc from 'fast-check';
import { createPerformanceMonitor, withStage } from '../../../src/index';
import { INDENTED_MAX_CHARS, reportText, reportTextInSlices } from '../../../src/report/serialize';

const now = (): Promise<boolean> | undefined => undefined;
const turn = (): Promise<boolean> => new Promise((resolve) => setImmediate(() => resolve(true)));

function bigValue(records: number): Record<string, unknown> {
  return {
    schemaVersion: 1,
    stages: Array.from({ length: records }, (_, i) => ({ id: String(i), name: `s${i % 7}`, t: i / 3, durationMs: 0.001 * i, cpu: { userMs: 0, estimated: true } })),
    memory: { samples: Array.from({ length: 600 }, (_, t) => ({ t, rssMb: 100 + t })), trend: { r2: 0.5 } },
  };
}

describe('reportText', () => {
  test('a small report is indented; one past INDENTED_MAX_CHARS of compact JSON is written on one line', () => {
    const small = { a: [1, 2], b: { c: 'x' } };
    expect(reportText(small)).toBe(`${JSON.stringify(small, null, 2)}\n`);
    const big = bigValue(30_000);
    expect(JSON.stringify(big).length).toBeGreaterThan(INDENTED_MAX_CHARS);
    expect(reportText(big)).toBe(`${JSON.stringify(big)}\n`);
  });

  test('a real report under the limit reads the same as before: indented', () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring();
    withStage('a', (x: number) => x, { monitor: m })(1);
    const report = m.stopMonitoring();
    expect(reportText(report)).toBe(`${JSON.stringify(report, null, 2)}\n`);
  });
});

describe('reportTextInSlices', () => {
  test('its pieces join to exactly reportText, small and big, and it yields to the loop between them', async () => {
    for (const value of [{ x: 1 }, bigValue(30_000)]) {
      let turns = 0;
      const pieces = await reportTextInSlices(value, () => {
        turns++;
        return turn();
      });
      expect(pieces?.join('')).toBe(reportText(value));
      if (value !== undefined && 'stages' in value) {
        expect(pieces!.length).toBeGreaterThan(100);
        expect(turns).toBeGreaterThan(100);
      }
    }
  });

  test('a real report of many records, serialised in slices, is the same text', async () => {
    const m = createPerformanceMonitor({ enableMemoryTracking: false });
    m.startMonitoring();
    const parent = withStage('parent', (n: number) => {
      for (let i = 0; i < n; i++) child(i);
    }, { monitor: m });
    const child = withStage('child', (i: number) => i, { monitor: m, metadata: { k: '</script>', '__proto__': { x: 1 } } });
    parent(8000);
    const report = m.stopMonitoring();
    const pieces = await reportTextInSlices(report, now);
    expect(pieces!.join('')).toBe(reportText(report));
    expect(pieces!.length).toBeGreaterThan(30); // compact, in pieces
    expect(JSON.parse(pieces!.join(''))).toEqual(JSON.parse(JSON.stringify(report)));
  });

  test('whatever JSON.stringify accepts, the pieces say the same: undefined, functions and symbols left out or null, toJSON, sparse arrays, __proto__ keys, control characters', async () => {
    const odd = JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1}') as Record<string, unknown>;
    const fixed = {
      a: undefined,
      f: () => 1,
      s: Symbol('x'),
      list: [undefined, () => 1, Symbol('y'), , 3], // eslint-disable-line no-sparse-arrays
      date: new Date(0),
      custom: { toJSON: () => ({ replaced: true }) },
      odd,
      text: '\u0000\u001b[31m</script>\u2028',
      nested: { deep: { deeper: [[{ x: [1, { y: undefined }] }]] } },
      nothing: null,
      big: Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? undefined : { i })),
    };
    const pieces = await reportTextInSlices(fixed, now);
    expect(pieces!.join('')).toBe(reportText(fixed));
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string(), fc.jsonValue()), fc.array(fc.jsonValue(), { maxLength: 600 }), async (obj, list) => {
        const value = { ...obj, list, again: { list } };
        expect((await reportTextInSlices(value, now))!.join('')).toBe(reportText(value));
      }),
      { seed: 1717, numRuns: 200 },
    );
  });

  test('gives up, with nothing, when the caller says so at a pause', async () => {
    let asked = 0;
    const pieces = await reportTextInSlices(bigValue(5000), () => (++asked === 3 ? Promise.resolve(false) : undefined));
    expect(pieces).toBeUndefined();
    expect(asked).toBe(3);
  });
});
