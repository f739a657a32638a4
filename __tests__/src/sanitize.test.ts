import { compileRedactPaths, describeError, REDACTED, sanitizeMetadata } from '../../src/sanitize';

describe('metadata sanitising', () => {
  test('cycles, BigInt, functions, symbols, non-finite numbers and dates become JSON', () => {
    const meta: Record<string, unknown> = { big: 10n ** 20n, fn: function scorer() {}, sym: Symbol('s'), nan: NaN, inf: -Infinity, when: new Date(0), undef: undefined };
    meta.self = meta;
    const out = sanitizeMetadata(meta)!;
    expect(out).toEqual({
      big: '100000000000000000000',
      fn: '[Function scorer]',
      sym: 'Symbol(s)',
      nan: 'NaN',
      inf: '-Infinity',
      when: '1970-01-01T00:00:00.000Z',
      undef: null,
      self: '[Circular]',
    });
    expect(() => JSON.stringify(out)).not.toThrow();
  });

  test('huge strings, wide objects, long arrays and deep nesting are bounded', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    const out = sanitizeMetadata({ s: 'x'.repeat(100_000), wide: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i])), long: new Array(1000).fill(1), deep })!;
    expect((out.s as string).length).toBeLessThan(1100);
    expect(Object.keys(out.wide as object)).toHaveLength(101);
    expect((out.long as unknown[]).length).toBe(101);
    expect(JSON.stringify(out.deep)).toContain('[Too deep]');
    expect(JSON.stringify(out).length).toBeLessThan(10_000);
  });

  test('buffers and collections are described, not dumped', () => {
    expect(sanitizeMetadata({ b: Buffer.alloc(1e6), m: new Map([[1, 2]]), set: new Set([1]), err: new TypeError('x') })).toEqual({
      b: '[Buffer byteLength=1000000]',
      m: '[Map size=1]',
      set: '[Set size=1]',
      err: { name: 'TypeError', message: 'x' },
    });
  });

  test('throwing getters and hostile proxies never escape', () => {
    const hostile = new Proxy({}, { ownKeys: () => { throw new Error('trap'); } });
    const getter = Object.defineProperty({}, 'secret', { enumerable: true, get: () => { throw new Error('no'); } });
    expect(sanitizeMetadata({ getter })).toEqual({ getter: { secret: '[Unreadable]' } });
    expect(sanitizeMetadata(hostile)).toEqual({ value: '[Unserialisable metadata]' });
  });

  test('non-object metadata is wrapped', () => {
    expect(sanitizeMetadata('just text')).toEqual({ value: 'just text' });
    expect(sanitizeMetadata(undefined)).toBeUndefined();
  });

  test('a plain key is redacted at any depth; paths follow pino syntax', () => {
    const matcher = compileRedactPaths(['password', 'db.user', 'tokens[*].value', '*.apiKey', 'odd["key with space"]']);
    expect(
      sanitizeMetadata(
        {
          password: 'p1',
          nested: { password: 'p2', apiKey: 'k', keep: 1 },
          db: { user: 'admin', host: 'h' },
          tokens: [{ value: 't1', id: 1 }, { value: 't2', id: 2 }],
          odd: { 'key with space': 's', other: 'o' },
          apiKey: 'top-level apiKey is not *.apiKey',
        },
        matcher,
      ),
    ).toEqual({
      password: REDACTED,
      nested: { password: REDACTED, apiKey: REDACTED, keep: 1 },
      db: { user: REDACTED, host: 'h' },
      tokens: [{ value: REDACTED, id: 1 }, { value: REDACTED, id: 2 }],
      odd: { 'key with space': REDACTED, other: 'o' },
      apiKey: 'top-level apiKey is not *.apiKey',
    });
  });

  test.each(['a..b', '.a', 'a[', 'a[x]', '', 'a b'])('malformed path %p is rejected', (path) => {
    expect(() => compileRedactPaths([path])).toThrow();
  });
});

describe('error description', () => {
  test('keeps name and message, and the stack only on request', () => {
    const e = new SyntaxError('bad token');
    expect(describeError(e)).toEqual({ name: 'SyntaxError', message: 'bad token' });
    expect(describeError(e, true).stack).toContain('SyntaxError: bad token');
    expect(describeError('text')).toEqual({ name: 'string', message: 'text' });
    expect(describeError({ message: 'plain object' })).toEqual({ name: 'Error', message: 'plain object' });
    expect(describeError(null)).toEqual({ name: 'object', message: 'null' });
  });
});
