/**
 * Reading a row count from a value the program passed or returned, without running any of the
 * program's code: no getter, no Proxy trap, no `toString`. Only arrays, typed arrays, Map and Set
 * (their internal length or size), and own data properties `length`, `size` or `rowCount` of a
 * plain object holding a valid count, are read. Anything else holds no rows we can count.
 */
import { types } from 'node:util';

const { isProxy, isMap, isSet, isTypedArray } = types;

/** A valid row count: an integer from 0 to 2^53 - 1 (so sums and rates stay finite). */
export function isValidRowCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

const { getOwnPropertyDescriptor } = Object;
const sizeOfMap = Object.getOwnPropertyDescriptor(Map.prototype, 'size')!.get!;
const sizeOfSet = Object.getOwnPropertyDescriptor(Set.prototype, 'size')!.get!;
const lengthOfTypedArray = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'length')!.get!;

/** The count in an own data property of `value`, if it holds a valid one. */
function ownDataCount(value: object, key: string): number | undefined {
  const desc = getOwnPropertyDescriptor(value, key);
  return desc !== undefined && 'value' in desc && isValidRowCount(desc.value) ? desc.value : undefined;
}

/**
 * Rows held by one value, or undefined when it holds none we may count. Never calls program code
 * and never throws. `util.types.isProxy` (~20 ns, a call into C++) runs first for every object,
 * because even `Array.isArray` of a revoked proxy throws and reading `length` of any proxy runs
 * its trap.
 */
export function rowsHeldBy(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null || isProxy(value)) return undefined;
  // The built-in getters below read internal slots: no program code runs.
  if (Array.isArray(value)) return value.length;
  try {
    if (isTypedArray(value)) return lengthOfTypedArray.call(value) as number;
    if (isMap(value)) return sizeOfMap.call(value) as number;
    if (isSet(value)) return sizeOfSet.call(value) as number;
    return ownDataCount(value, 'length') ?? ownDataCount(value, 'size') ?? ownDataCount(value, 'rowCount');
  } catch {
    // a module namespace whose binding is not initialised yet throws from its descriptor
    return undefined;
  }
}

/** Rows of the first argument that holds any (0 when none does). */
export function rowsOfArgs(args: readonly unknown[]): number {
  for (let i = 0; i < args.length; i++) {
    const n = rowsHeldBy(args[i]);
    if (n !== undefined) return n;
  }
  return 0;
}
