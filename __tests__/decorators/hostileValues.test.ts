/**
 * Decorated methods given hostile values (a revoked proxy, a proxy whose traps throw), as
 * argument, result and `this`, on instance, static, sync and async methods: the caller gets
 * exactly what it gets from the undecorated method (the same value, the same error object), and
 * no trap of the program runs on stagemeter's behalf. Runs under both decorator modes.
 */
import { types } from 'node:util';
import { MonitoredStage } from '../../src/index';
import { useSingletonRun } from '../helpers/singletonRun';
import { decoratorMode } from './mode';

const run = useSingletonRun();

function revokedProxy(): object {
  const r = Proxy.revocable({}, {});
  r.revoke();
  return r.proxy;
}

let trapCalls = 0;
function trappedProxy(): object {
  const fail = (trap: string) => () => {
    trapCalls++;
    throw new Error(`${trap} trap`);
  };
  return new Proxy([1, 2, 3], { getPrototypeOf: fail('getPrototypeOf'), get: fail('get'), has: fail('has'), ownKeys: fail('ownKeys'), getOwnPropertyDescriptor: fail('getOwnPropertyDescriptor') });
}

const boom = new Error('boom');

/** The same methods twice: decorated, and plain for the expected outcome. */
class Decorated {
  @MonitoredStage()
  identity(x: unknown): unknown {
    return x;
  }

  @MonitoredStage({ rows: 'output' })
  returns(x: unknown): unknown {
    return x;
  }

  @MonitoredStage()
  throws(_x: unknown): never {
    throw boom;
  }

  @MonitoredStage()
  async rejects(_x: unknown): Promise<never> {
    throw boom;
  }

  @MonitoredStage({ rows: 'output' })
  async resolvesLater(x: unknown): Promise<unknown> {
    await new Promise((r) => setTimeout(r, 1));
    return [x];
  }

  @MonitoredStage()
  self(): unknown {
    return this;
  }

  @MonitoredStage()
  static staticIdentity(x: unknown): unknown {
    return x;
  }
}

class Plain {
  identity(x: unknown): unknown {
    return x;
  }
  returns(x: unknown): unknown {
    return x;
  }
  throws(_x: unknown): never {
    throw boom;
  }
  async rejects(_x: unknown): Promise<never> {
    throw boom;
  }
  async resolvesLater(x: unknown): Promise<unknown> {
    await new Promise((r) => setTimeout(r, 1));
    return [x];
  }
  self(): unknown {
    return this;
  }
  static staticIdentity(x: unknown): unknown {
    return x;
  }
}

type Outcome = { returned?: unknown; threw?: unknown; resolved?: unknown; rejected?: unknown };

async function outcomeOf(call: () => unknown): Promise<Outcome> {
  let v: unknown;
  try {
    v = call();
  } catch (err) {
    return { threw: err };
  }
  if (!types.isPromise(v)) return { returned: v };
  try {
    return { resolved: await v };
  } catch (err) {
    return { rejected: err };
  }
}

/** Same keys; values by identity, arrays element by element. */
function expectSame(monitored: Outcome, plain: Outcome): void {
  expect(Object.keys(monitored)).toEqual(Object.keys(plain));
  for (const k of Object.keys(plain) as Array<keyof Outcome>) {
    const p = plain[k];
    const m = monitored[k];
    if (!types.isProxy(p) && Array.isArray(p) && Array.isArray(m)) {
      expect(m.length).toBe(p.length);
      p.forEach((v, i) => expect(m[i]).toBe(v));
    } else {
      expect(m).toBe(p);
    }
  }
}

describe.each([
  ['a revoked proxy', revokedProxy],
  ['a proxy whose traps throw', trappedProxy],
])(`%s through decorated methods (${decoratorMode})`, (_label, make) => {
  test('as argument and result: the same value or the same error object as undecorated, no trap run for stagemeter', async () => {
    const value = make();
    const d = new Decorated();
    const p = new Plain();
    const names = ['identity', 'returns', 'throws', 'rejects', 'resolvesLater'] as const;
    for (const name of names) {
      trapCalls = 0;
      const plain = await outcomeOf(() => p[name](value));
      const plainTraps = trapCalls;
      trapCalls = 0;
      const monitored = await outcomeOf(() => d[name](value));
      expectSame(monitored, plain);
      expect([name, trapCalls]).toEqual([name, plainTraps]);
    }
    expectSame(await outcomeOf(() => Decorated.staticIdentity(value)), await outcomeOf(() => Plain.staticIdentity(value)));
    const report = run.stop();
    expect(report.summary.failedStages).toBe(2);
    expect(report.stageSummaries.map((s) => s.name).sort()).toEqual(['Decorated.identity', 'Decorated.rejects', 'Decorated.resolvesLater', 'Decorated.returns', 'Decorated.staticIdentity', 'Decorated.throws']);
    expect(report.qualityFlags.map((f) => f.code)).toContain('rows_unreadable');
  });

  test('as this, also on the very first call of the method: the same result, the stage still named', () => {
    const value = make();
    // a class whose method is first called with a hostile this, before any instance exists
    class Fresh {
      @MonitoredStage()
      who(): unknown {
        return this;
      }
    }
    expect(Fresh.prototype.who.call(value)).toBe(value);
    expect(Decorated.prototype.self.call(value)).toBe(value);
    expect(new Fresh().who()).toBeInstanceOf(Fresh);
    const report = run.stop();
    expect(report.summary.totalStages).toBe(3);
    for (const s of report.stageSummaries) expect(s.name).toMatch(/\.(who|self)$/);
  });
});
