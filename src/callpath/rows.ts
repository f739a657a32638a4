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

/** What {@link rowsHeldBy} answers besides a count (all negative, so `n >= 0` tells a count). */
export const RowsAnswer = {
  /** Holds no rows we may count: counted as 0, nothing to say. */
  None: -1,
  /** A Proxy: reading its size would run its traps. */
  Proxy: -2,
  /** An own data `length`, `size` or `rowCount` holding a number that is no count (NaN, -3, 1e308, 2.5, a BigInt). */
  Invalid: -3,
} as const;

/**
 * The count in an own data property of `value`: the count, RowsAnswer.Invalid for a number that
 * is none, undefined when the property is absent, an accessor or not a number.
 */
function ownDataCount(value: object, key: string): number | undefined {
  const desc = getOwnPropertyDescriptor(value, key);
  if (desc === undefined || !('value' in desc)) return undefined;
  const n: unknown = desc.value;
  if (isValidRowCount(n)) return n;
  return typeof n === 'number' || typeof n === 'bigint' ? RowsAnswer.Invalid : undefined;
}

/**
 * Rows held by one value (a count, >= 0), or a negative {@link RowsAnswer} saying why there is
 * none. Never calls program code and never throws. `util.types.isProxy` (~20 ns, a call into
 * C++) runs first for every object, because even `Array.isArray` of a revoked proxy throws and
 * reading `length` of any proxy runs its trap.
 *
 * @example
 * rowsHeldBy([1, 2, 3]);            // 3
 * rowsHeldBy({ rowCount: 10 });     // 10
 * rowsHeldBy({ get length() { return 5; } }); // RowsAnswer.None: the getter is never called
 */
export function rowsHeldBy(value: unknown): number {
  if (typeof value !== 'object' || value === null) return RowsAnswer.None;
  if (isProxy(value)) return RowsAnswer.Proxy;
  // The built-in getters below read internal slots: no program code runs.
  if (Array.isArray(value)) return value.length;
  try {
    if (isTypedArray(value)) return lengthOfTypedArray.call(value) as number;
    if (isMap(value)) return sizeOfMap.call(value) as number;
    if (isSet(value)) return sizeOfSet.call(value) as number;
    return ownDataCount(value, 'length') ?? ownDataCount(value, 'size') ?? ownDataCount(value, 'rowCount') ?? RowsAnswer.None;
  } catch {
    // a module namespace whose binding is not initialised yet throws from its descriptor
    return RowsAnswer.None;
  }
}

/**
 * Rows of the first argument that holds a count; when none does, the most telling negative
 * {@link RowsAnswer} met (Invalid, then Proxy, then None).
 *
 * @example
 * rowsOfArgs(['name', [1, 2]]); // 2
 * rowsOfArgs([{ length: NaN }]); // RowsAnswer.Invalid
 */
export function rowsOfArgs(args: readonly unknown[]): number {
  let answer: number = RowsAnswer.None;
  for (let i = 0; i < args.length; i++) {
    const n = rowsHeldBy(args[i]);
    if (n >= 0) return n;
    if (n < answer) answer = n;
  }
  return answer;
}
