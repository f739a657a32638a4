import { types } from 'node:util';
import { hookFunction, type ReflectMetadata } from '../src/callpath/wrapper';
import { ConfigError, describeValue, type ConfigIssue } from '../src/errors';
import { isMonitor } from '../src/monitor';
import type { MonitoredStageOptions } from '../src/types';
import { checkHookOptions, checkStageName } from '../src/validate';

/** reflect-metadata key holding `{ method, name? }` on every decorated method's wrapper. */
export const STAGE_METADATA_KEY = 'stagemeter:stage';

const DECORATOR_OPTION_KEYS = ['name', 'rows', 'metadata', 'monitor'] as const;

interface StageMark {
  method: string;
  /** Explicit stage name; absent when it is `${ClassName}.${method}`. */
  name?: string;
}

/**
 * The marks of decorated methods. Kept here, and also as reflect-metadata when the program has
 * installed reflect-metadata itself (`Reflect.getMetadata('stagemeter:stage', method)`);
 * stagemeter never installs a polyfill on the global Reflect.
 */
const marks = new WeakMap<object, StageMark>();

function programReflect(): ReflectMetadata | undefined {
  const r = Reflect as unknown as Partial<ReflectMetadata>;
  return typeof r.defineMetadata === 'function' && typeof r.getOwnMetadata === 'function' && typeof r.getOwnMetadataKeys === 'function' ? (r as ReflectMetadata) : undefined;
}

function setMark(fn: object, mark: StageMark): void {
  marks.set(fn, mark);
  try {
    programReflect()?.defineMetadata(STAGE_METADATA_KEY, mark, fn);
  } catch {
    // a broken polyfill: the mark is kept here anyway
  }
}

function markOf(fn: object): StageMark | undefined {
  const mark = marks.get(fn);
  if (mark !== undefined) return mark;
  try {
    const m = programReflect()?.getOwnMetadata(STAGE_METADATA_KEY, fn) as StageMark | undefined;
    return typeof m === 'object' && m !== null && typeof m.method === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
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
  const issues: ConfigIssue[] = checkHookOptions(arg, DECORATOR_OPTION_KEYS, '', isMonitor);
  if (issues.length > 0) throw new ConfigError(issues, 'invalid @MonitoredStage() arguments');
  return arg as MonitoredStageOptions;
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

  function build(method: AnyMethod, key: string | symbol, className: string | undefined): ReturnType<typeof hookFunction> {
    const name = options.name ?? (className !== undefined ? `${className}.${keyName(key)}` : '');
    const hooked = hookFunction({ name, fn: method, rows: options.rows, metadata: options.metadata, monitor: options.monitor });
    const mark: StageMark = { method: keyName(key) };
    if (options.name !== undefined) mark.name = options.name;
    setMark(hooked.wrapped, mark);
    return hooked;
  }

  return function decorate(target: unknown, context: unknown, descriptor?: PropertyDescriptor): unknown {
    // Standard decorators: (value, context) with context.kind.
    if (typeof context === 'object' && context !== null && 'kind' in context) {
      const ctx = context as ClassMethodDecoratorContext;
      if (ctx.kind !== 'method' || typeof target !== 'function') throw notAMethod(`a ${String(ctx.kind)}`);
      const key = ctx.name;
      const hooked = build(target as AnyMethod, key, undefined);
      if (hooked.name() === '') {
        // The class is not known to a standard method decorator: learn it from the first
        // instance (or from the class itself for a static method), else at the first call. A
        // #private method is no property: its class is the first instance's.
        const owner = (self: unknown): string | undefined => {
          // a proxy's traps are the program's code: the name waits for a plain instance or the fallback
          if ((typeof self === 'object' || typeof self === 'function') && self !== null && types.isProxy(self)) return undefined;
          const cls = ctx.private ? classOf(self, ctx.static) : declaringClass(self, key, hooked.wrapped);
          return cls === undefined ? undefined : `${cls.name || '(anonymous class)'}.${keyName(key)}`;
        };
        hooked.nameLater(owner, () => `(unknown class).${keyName(key)}`);
        ctx.addInitializer(function (this: unknown) {
          hooked.resolve(this);
        });
      }
      return hooked.wrapped;
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

/** The class of an instance (or the class itself, for a static member). */
function classOf(self: unknown, isStatic: boolean): { name: string } | undefined {
  if (isStatic) return typeof self === 'function' ? self : undefined;
  const ctor = typeof self === 'object' && self !== null ? (self as { constructor?: unknown }).constructor : undefined;
  return typeof ctor === 'function' ? ctor : undefined;
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
      const mark = markOf(desc.value as object);
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
