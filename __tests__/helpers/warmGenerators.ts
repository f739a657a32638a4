import { createPerformanceMonitor, withStage } from '../../src/index';

/**
 * Runs a sync and an async generator stage once under a monitor of its own. The first stage of a
 * process pays for loading and compiling the call path (several ms on a busy machine) before its
 * clock starts: called in `beforeAll`, so that the clocks compared in a test measure the same work.
 *
 * @example
 * beforeAll(warmGeneratorStages);
 */
export async function warmGeneratorStages(): Promise<void> {
  const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
  const warmAsync = withStage('warm', async function* () {
    yield await Promise.resolve(1);
  }, { monitor });
  const warmSync = withStage('warm', function* () {
    yield 1;
  }, { monitor });
  monitor.startMonitoring();
  for await (const _ of warmAsync());
  for (const _ of warmSync());
  monitor.stopMonitoring();
}
