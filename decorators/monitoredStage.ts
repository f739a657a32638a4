import 'reflect-metadata';
import { StageDefinition, type PerformanceMonitor } from '../src/collector';
import { ConfigError, describeValue, type ConfigIssue } from '../src/errors';
import type { MonitoredStageOptions } from '../src/types';
import { checkOptionsObject, checkStageName } from './withStage';
import { makeWrapper } from './wrap';

/** reflect-metadata key holding `{ method, name? }` on every decorated method's wrapper. */
export const STAGE_METADATA_KEY = 'stagemeter:stage';

const DECORATOR_OPTION_KEYS: ReadonlySet<string> = new Set(['name', 'rows', 'metadata', 'monitor']);

interface StageMark {
  method: string;
  /** Explicit stage name; absent when it is `${ClassName}.${method}`. */
  name?: string;
}

type AnyMethod = (...args: unknown[]) => unknown;

function keyName(key: string | symbol): string {
  return typeof key === 'symbol' ? `[${key.description ?? 'symbol'}]` : key;
}

/** The class that declares `wrapped` under `key`, searching from `start` up its prototype chain. */
function declaringClass(start: unknown, key: string | symbol, wrapped: unknown): { name: string } | undefined {
  for (let o: unknown = start; o !== null && o !== undefined; o = Object.getPrototypeOf(o)) {
    const desc = Object.getOwnPropertyDescriptor(o, key);
    if (desc !== undefined && desc.value === wrapped) return typeof o === 'function' ? o : ((o as { constructor?: { name: string } }).constructor ?? undefined);
  }
  return undefined;
}

function parseArgument(arg: unknown): MonitoredStageOptions {
  if (arg === undefined) return {};
  if (typeof arg === 'string') {
    const issues = checkStageName(arg, 'name');
    if (issues.length > 0) throw new ConfigError(issues, 'invalid @MonitoredStage() arguments');
    return { name: arg };
  }
  const issues: ConfigIssue[] = checkOptionsObject(arg, DECORATOR_OPTION_KEYS, '');
  const o = arg as MonitoredStageOptions;
  if (issues.length === 0 && o.name !== undefined) issues.push(...checkStageName(o.name, 'name'));
  if (issues.length > 0) throw new ConfigError(issues, 'invalid @MonitoredStage() arguments');
  return o;
}

function notAMethod(what: string): ConfigError {
  return new ConfigError([{ field: '@MonitoredStage', message: `can only decorate methods (got ${what})` }], 'invalid use of @MonitoredStage');
}

/**
 * Records every call of the decorated method as a stage named `ClassName.methodName` (or the
 * given name). Works with standard TypeScript decorators and with `experimentalDecorators`
 * (+ `emitDecoratorMetadata`), on instance and static, sync and async methods. The method keeps
 * its name, its length and any reflect-metadata it already had. Misuse (a field, an accessor, a
 * class, bad options) throws a {@link ConfigError} when the class is defined.
 *
 * @example
 * class WeightedLabelingEngine {
 *   @MonitoredStage()                                  // "WeightedLabelingEngine.score"
 *   score(rows: Row[]) { ... }
 *   @MonitoredStage({ name: 'weighted_labeling', rows: 'output' })
 *   async label(rows: Row[]) { ... }
 * }
 */
export function MonitoredStage(nameOrOptions?: string | MonitoredStageOptions): any {
  const options = parseArgument(nameOrOptions);
  const explicit = options.monitor as PerformanceMonitor | undefined;

  function build(method: AnyMethod, key: string | symbol, className: string | undefined): { def: StageDefinition; wrapped: AnyMethod } {
    const name = options.name ?? (className !== undefined ? `${className}.${keyName(key)}` : '');
    const def = new StageDefinition(name, method, options.rows, options.metadata);
    const wrapped = makeWrapper(def, explicit);
    const mark: StageMark = { method: keyName(key) };
    if (options.name !== undefined) mark.name = options.name;
    Reflect.defineMetadata(STAGE_METADATA_KEY, mark, wrapped);
    return { def, wrapped };
  }

  return function decorate(target: unknown, context: unknown, descriptor?: PropertyDescriptor): unknown {
    // Standard decorators: (value, context) with context.kind.
    if (typeof context === 'object' && context !== null && 'kind' in context) {
      const ctx = context as ClassMethodDecoratorContext;
      if (ctx.kind !== 'method' || typeof target !== 'function') throw notAMethod(`a ${String(ctx.kind)}`);
      const key = ctx.name;
      const { def, wrapped } = build(target as AnyMethod, key, undefined);
      if (def.name === '') {
        // The class is not known to a standard method decorator: learn it from the first
        // instance (or from the class itself for a static method), else at the first call.
        const resolve = (self: unknown): void => {
          if (def.name !== '') return;
          const owner = declaringClass(self, key, wrapped);
          if (owner !== undefined) def.name = `${owner.name || '(anonymous class)'}.${keyName(key)}`;
        };
        ctx.addInitializer(function (this: unknown) {
          resolve(this);
        });
        def.resolveName = (self: unknown) => {
          resolve(self);
          if (def.name === '') def.name = `(unknown class).${keyName(key)}`;
        };
      }
      return wrapped;
    }
    // experimentalDecorators: (prototype or constructor, key, descriptor).
    if ((typeof context === 'string' || typeof context === 'symbol') && descriptor !== undefined) {
      if (typeof descriptor.value !== 'function') throw notAMethod(descriptor.get || descriptor.set ? 'an accessor' : 'a non-method property');
      const owner = typeof target === 'function' ? target : (target as { constructor?: { name?: string } }).constructor;
      const { wrapped } = build(descriptor.value as AnyMethod, context, owner?.name || '(anonymous class)');
      return { ...descriptor, value: wrapped };
    }
    throw notAMethod(context === undefined ? 'a class or a field' : describeValue(context));
  };
}

/**
 * Lists the methods of a class (and of its base classes) decorated with @MonitoredStage, read
 * back through reflect-metadata, with the stage name each one records under.
 *
 * @example
 * getMonitoredStages(WeightedLabelingEngine)
 * // => [{ method: 'score', name: 'WeightedLabelingEngine.score' }, { method: 'label', name: 'weighted_labeling' }]
 */
export function getMonitoredStages(ctor: Function): Array<{ method: string; name: string }> {
  if (typeof ctor !== 'function') return [];
  const out: Array<{ method: string; name: string }> = [];
  const seen = new Set<string>();
  const scan = (holder: object | null | undefined, className: string, isStatic: boolean): void => {
    if (holder === null || holder === undefined) return;
    for (const key of Reflect.ownKeys(holder)) {
      if (key === 'constructor' || key === 'prototype') continue;
      const desc = Object.getOwnPropertyDescriptor(holder, key);
      if (typeof desc?.value !== 'function') continue;
      const mark = Reflect.getOwnMetadata(STAGE_METADATA_KEY, desc.value) as StageMark | undefined;
      const id = `${isStatic ? 'static ' : ''}${mark?.method ?? ''}`;
      if (mark === undefined || seen.has(id)) continue;
      seen.add(id);
      out.push({ method: mark.method, name: mark.name ?? `${className}.${mark.method}` });
    }
  };
  for (let c: Function | null = ctor; c !== null && c !== Function.prototype; c = Object.getPrototypeOf(c) as Function | null) {
    scan(c.prototype as object | undefined, c.name || '(anonymous class)', false);
    scan(c, c.name || '(anonymous class)', true);
  }
  return out;
}
