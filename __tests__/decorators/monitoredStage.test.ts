import 'reflect-metadata';
import { ConfigError, createPerformanceMonitor, getMonitoredStages, MonitoredStage } from '../../src/index';
import { useSingletonRun } from '../helpers/singletonRun';
import { decoratorMode } from './mode';
import { configErrorOf } from '../helpers/thrown';

const run = useSingletonRun();
const stop = run.stop;

/** A decorator of another library that leaves metadata on the method itself (as NestJS does). */
function Tag(value: string): any {
  return (target: unknown, context: unknown, descriptor?: PropertyDescriptor) => {
    const fn = descriptor?.value ?? target;
    Reflect.defineMetadata('test:tag', value, fn as object);
    return descriptor ?? target;
  };
}

class LabelingEngine {
  constructor(readonly weight = 2) {}

  @MonitoredStage()
  score(rows: number[]): number[] {
    return rows.map((r) => r * this.weight);
  }

  @MonitoredStage('weighted_labeling')
  async label(rows: number[]): Promise<string[]> {
    await new Promise((r) => setTimeout(r, 1));
    return rows.map((r) => (r * this.weight > 4 ? 'high' : 'low'));
  }

  @MonitoredStage({ name: 'explode', metadata: { owner: 'team-a' } })
  explode(): never {
    throw new RangeError('out of range');
  }

  @MonitoredStage({ rows: 'output' })
  expand(n: number): number[] {
    return new Array(n).fill(this.weight);
  }

  @MonitoredStage()
  static create(weight: number): LabelingEngine {
    return new LabelingEngine(weight);
  }

  @MonitoredStage()
  static async createLater(weight: number): Promise<LabelingEngine> {
    await Promise.resolve();
    return new LabelingEngine(weight);
  }

  @MonitoredStage()
  @Tag('kept')
  tagged(a: number, b: string): string {
    return `${a}${b}`;
  }

  @MonitoredStage()
  outer(rows: number[]): number[] {
    return this.score(rows);
  }
}

class SpecialEngine extends LabelingEngine {
  @MonitoredStage()
  special(): string {
    return 'special';
  }
}

describe(`@MonitoredStage (${decoratorMode} decorators)`, () => {
  test('an instance method keeps its result, this and name, and is recorded as ClassName.method', () => {
    const engine = new LabelingEngine(3);
    expect(engine.score([1, 2])).toEqual([3, 6]);
    expect(LabelingEngine.prototype.score.name).toBe('score');
    expect(LabelingEngine.prototype.score.length).toBe(1);
    expect(stop().stages[0]).toMatchObject({ name: 'LabelingEngine.score', rowsProcessed: 2, sync: true, success: true });
  });

  test('a method gets its arguments as given: their number, the same objects, 10,000 of them, in a run or not', () => {
    class Batch {
      @MonitoredStage()
      count(...rows: unknown[]): [number, unknown] {
        return [arguments.length, rows[0]];
      }
    }
    const row = { id: 7 };
    const many = Array.from({ length: 10_000 }, (_, i) => i);
    const batch = new Batch();
    const calls = (): unknown[] => [batch.count(), batch.count(row, undefined), batch.count(...many)];
    const expected = [[0, undefined], [2, row], [10_000, 0]];
    expect(calls()).toEqual(expected);
    expect((calls()[1] as unknown[])[1]).toBe(row);
    run.monitor().stopMonitoring();
    expect(calls()).toEqual(expected); // no active run
    run.monitor().startMonitoring();
  });

  test('an async method with a custom name returns a promise of the same value', async () => {
    const p = new LabelingEngine(2).label([1, 3]);
    expect(p).toBeInstanceOf(Promise);
    await expect(p).resolves.toEqual(['low', 'high']);
    expect(stop().stages[0]).toMatchObject({ name: 'weighted_labeling', rowsProcessed: 2, sync: false });
  });

  test('a throwing method rethrows the same error and records it with the stage metadata', () => {
    const engine = new LabelingEngine();
    expect(() => engine.explode()).toThrow(RangeError);
    expect(stop().stages[0]).toMatchObject({ name: 'explode', success: false, error: { name: 'RangeError', message: 'out of range' }, metadata: { owner: 'team-a' } });
  });

  test("options such as rows: 'output' apply", () => {
    expect(new LabelingEngine().expand(5)).toHaveLength(5);
    expect(stop().stages[0]).toMatchObject({ name: 'LabelingEngine.expand', rowsProcessed: 5 });
  });

  test('static methods, sync and async, are recorded with the class name', async () => {
    expect(LabelingEngine.create(4).weight).toBe(4);
    expect((await LabelingEngine.createLater(5)).weight).toBe(5);
    expect(stop().stages.map((s) => s.name)).toEqual(['LabelingEngine.create', 'LabelingEngine.createLater']);
  });

  test('an inherited method is named after the class that declares it', () => {
    const special = new SpecialEngine();
    special.score([1]);
    special.special();
    expect(stop().stages.map((s) => s.name)).toEqual(['LabelingEngine.score', 'SpecialEngine.special']);
  });

  test('decorated methods nest', () => {
    new LabelingEngine().outer([1, 2, 3]);
    const report = stop();
    const outer = report.stages.find((s) => s.name === 'LabelingEngine.outer')!;
    expect(report.stages.find((s) => s.name === 'LabelingEngine.score')!.parentId).toBe(outer.id);
  });

  test('reflect-metadata that the method already had is kept', () => {
    expect(Reflect.getMetadata('test:tag', LabelingEngine.prototype.tagged)).toBe('kept');
    expect(new LabelingEngine().tagged(1, 'x')).toBe('1x');
  });

  if (decoratorMode === 'experimentalDecorators') {
    test('emitDecoratorMetadata type information survives on the class', () => {
      expect(Reflect.getMetadata('design:paramtypes', LabelingEngine.prototype, 'tagged')).toEqual([Number, String]);
      expect(Reflect.getMetadata('design:returntype', LabelingEngine.prototype, 'tagged')).toBe(String);
      expect(Reflect.getMetadata('design:type', LabelingEngine.prototype, 'score')).toBe(Function);
    });
  }

  test('getMonitoredStages lists the decorated methods with their stage names, base classes included', () => {
    const byMethod = (ctor: Function) => Object.fromEntries(getMonitoredStages(ctor).map((s) => [s.method, s.name]));
    expect(byMethod(LabelingEngine)).toEqual({
      score: 'LabelingEngine.score',
      label: 'weighted_labeling',
      explode: 'explode',
      expand: 'LabelingEngine.expand',
      tagged: 'LabelingEngine.tagged',
      outer: 'LabelingEngine.outer',
      create: 'LabelingEngine.create',
      createLater: 'LabelingEngine.createLater',
    });
    expect(byMethod(SpecialEngine)).toMatchObject({ special: 'SpecialEngine.special', score: 'LabelingEngine.score' });
    expect(getMonitoredStages(class Plain {})).toEqual([]);
    expect(getMonitoredStages('not a class' as unknown as Function)).toEqual([]);
  });

  test('without an active run the method runs unmonitored', () => {
    run.monitor().stopMonitoring();
    expect(new LabelingEngine(2).score([2])).toEqual([4]);
    run.monitor().startMonitoring();
    expect(stop().stages).toHaveLength(0);
  });

  test('an explicit monitor option records there', () => {
    const other = createPerformanceMonitor({ enableMemoryTracking: false });
    class Own {
      @MonitoredStage({ monitor: other })
      run(): number {
        return 1;
      }
    }
    other.startMonitoring();
    new Own().run();
    expect(other.stopMonitoring().stages.map((s) => s.name)).toEqual(['Own.run']);
    expect(stop().stages).toHaveLength(0);
  });

  describe('misuse fails when the class is defined, with a ConfigError', () => {
    const defineWith = configErrorOf;

    test('on a field', () => {
      const error = defineWith(() => {
        class Bad {
          @MonitoredStage()
          field = 1;
        }
        return Bad;
      });
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain('can only decorate methods');
    });

    test('on an accessor', () => {
      const error = defineWith(() => {
        class Bad {
          @MonitoredStage()
          get value(): number {
            return 1;
          }
        }
        return Bad;
      });
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain('can only decorate methods');
    });

    test('on a class', () => {
      const error = defineWith(() => {
        @MonitoredStage()
        class Bad {}
        return Bad;
      });
      expect(error).toBeInstanceOf(ConfigError);
    });

    test.each([
      ['an empty name', '', ['name']],
      ['a bad rows option', { rows: 'everything' }, ['rows']],
      ['an unknown option', { nmae: 'typo' }, ['nmae']],
      ['a non-string name in options', { name: 42 }, ['name']],
      ['a number', 5, ['options']],
    ])('with %s', (_label, arg, fields) => {
      const error = defineWith(() => MonitoredStage(arg as never));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.issues.map((i) => i.field)).toEqual(fields);
    });
  });
});
