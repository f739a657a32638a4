import { ConfigError } from '../../src/index';

/** What `make` throws (the very value), or a marker when it throws nothing. */
export function thrownBy(make: () => unknown): unknown {
  try {
    make();
  } catch (e) {
    return e;
  }
  return NOTHING_THROWN;
}

export const NOTHING_THROWN: unique symbol = Symbol('nothing thrown');

/** The ConfigError `make` throws (failing the test if it throws anything else or nothing). */
export function configErrorOf(make: () => unknown): ConfigError {
  const error = thrownBy(make);
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}
