/**
 * The wrapper every hook installs, and the one function the hooks reach the call path through.
 * When no run is active the wrapper looks the monitor up and calls the original: no clock read,
 * no allocation (the arguments are passed on spread, never as an array: a rest array that only
 * reaches `Reflect.apply` is not allocated once V8 optimises the wrapper, while one handed to
 * another function is, on every call, run or not).
 */
import { autoStartMonitor } from '../singleton';
import type { RunState } from '../run/state';
import type { RowsOption } from '../types';
import { slot, RUN_KEY, type RunBox } from './global';
import { callStage } from './invoke';
import { StageDefinition } from './stage';

/** A monitor as the wrapper sees it: whatever holds a run box under RUN_KEY (any copy of the package). */
export interface RunHolder {
  readonly [RUN_KEY]: RunBox<RunState>;
}

/** What a hook asks for: a stage name (or '' until `resolveName` knows it), rows, metadata, a monitor. */
export interface HookSpec {
  name: string;
  fn: (...args: unknown[]) => unknown;
  rows?: RowsOption | undefined;
  metadata?: Record<string, unknown> | undefined;
  monitor?: RunHolder | undefined;
}

/** A hooked function and the handle to name its stage later (standard-mode decorators). */
export interface Hooked {
  wrapped: (...args: unknown[]) => unknown;
  /** The stage name; '' until known. */
  readonly name: () => string;
  /**
   * Names the stage later: `resolver` is asked by `resolve(self)` and at the first call while the
   * stage is unnamed; at the first call `fallback` names it if the resolver cannot.
   */
  nameLater(resolver: (self: unknown) => string | undefined, fallback: (self: unknown) => string): void;
  /** Asks the resolver now (a class initializer knows the instance before any call). */
  resolve(self: unknown): void;
}

/**
 * Builds the wrapper for a validated hook spec. The wrapper keeps the original's name, length,
 * own properties and reflect-metadata.
 */
export function hookFunction(spec: HookSpec): Hooked {
  const def = new StageDefinition(spec.name, spec.fn, spec.rows, spec.metadata);
  const wrapped = makeWrapper(def, spec.monitor);
  let resolver: ((self: unknown) => string | undefined) | undefined;
  return {
    wrapped,
    name: () => def.name,
    nameLater(resolve, fallback) {
      resolver = resolve;
      def.resolveName = (self) => {
        if (def.name !== '') return;
        try {
          def.name = resolve(self) ?? fallback(self);
        } catch {
          // a hostile `this` (a revoked proxy): the name cannot come from it
          def.name = fallback(undefined);
        }
      };
    },
    resolve(self) {
      if (def.name !== '' || resolver === undefined) return;
      try {
        def.name = resolver(self) ?? '';
      } catch {
        // left for the first call to name
      }
    },
  };
}

function makeWrapper(def: StageDefinition, monitor: RunHolder | undefined): (...args: unknown[]) => unknown {
  const fn = def.fn;
  // A monitor given explicitly: only its run box is kept (see RUN_KEY). Wrapped functions live as
  // long as the program's classes and modules, and must not keep a monitor alive after the
  // program let go of it.
  const explicit = monitor?.[RUN_KEY];
  // Named so that it reads as stagemeter's in a stack trace or a profile.
  const wrapped = function stagemeterHook(this: unknown, ...args: unknown[]): unknown {
    if (new.target !== undefined) return Reflect.construct(fn, args, new.target === wrapped ? fn : new.target);
    const box = explicit ?? (slot.monitor as RunHolder | undefined)?.[RUN_KEY];
    const run = box?.run;
    if (run !== undefined) return callStage(run, def, this, ...args);
    if (explicit !== undefined) return Reflect.apply(fn, this, args);
    if (slot.autoStart !== false) {
      const started = autoStartMonitor()?.[RUN_KEY].run;
      if (started !== undefined) return callStage(started, def, this, ...args);
    }
    // Counted (an increment, no allocation) for the hint when a started monitor was never made
    // the singleton: these calls record nowhere.
    slot.unrouted++;
    return Reflect.apply(fn, this, args);
  };
  copyIdentity(fn, wrapped);
  return wrapped;
}

/** name, length, prototype, own properties and reflect-metadata of the original. */
function copyIdentity(from: (...args: unknown[]) => unknown, to: (...args: unknown[]) => unknown): void {
  for (const key of Reflect.ownKeys(from)) {
    if (key === 'arguments' || key === 'caller') continue;
    const desc = Object.getOwnPropertyDescriptor(from, key);
    if (desc === undefined) continue;
    if (key === 'prototype') {
      if (desc.value !== undefined) Object.defineProperty(to, 'prototype', { value: desc.value, writable: desc.writable ?? true });
      continue;
    }
    try {
      Object.defineProperty(to, key, desc);
    } catch {
      // a non-configurable own property of the target (none for plain functions)
    }
  }
  // reflect-metadata, when the program installed it (stagemeter never touches the global Reflect).
  const reflect = Reflect as unknown as Partial<ReflectMetadata>;
  if (typeof reflect.getOwnMetadataKeys !== 'function' || typeof reflect.defineMetadata !== 'function' || typeof reflect.getOwnMetadata !== 'function') return;
  try {
    for (const key of reflect.getOwnMetadataKeys(from)) reflect.defineMetadata(key, reflect.getOwnMetadata(key, from), to);
  } catch {
    // a broken polyfill: the wrapper goes without the metadata
  }
}

/** The reflect-metadata functions a program's own `import 'reflect-metadata'` installs. */
export interface ReflectMetadata {
  getOwnMetadataKeys(target: object): unknown[];
  getOwnMetadata(key: unknown, target: object): unknown;
  defineMetadata(key: unknown, value: unknown, target: object): void;
}
