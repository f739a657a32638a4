import { createPerformanceMonitor, setMonitor, type PerformanceMonitor, type PerformanceReport } from '../../src/index';
import { resetGlobalStateForTests } from '../../src/callpath/global';
import { expectValidReport } from './schema';

/**
 * Gives every test a fresh singleton monitor (memory tracking off) with a run already started,
 * and stops it afterwards. `stop()` ends the run and returns the schema-checked report.
 */
export function useSingletonRun(): { monitor: () => PerformanceMonitor; stop: () => PerformanceReport } {
  let monitor: PerformanceMonitor | undefined;
  beforeEach(() => {
    resetGlobalStateForTests();
    monitor = createPerformanceMonitor({ enableMemoryTracking: false });
    setMonitor(monitor);
    monitor.startMonitoring();
  });
  afterEach(() => {
    if (monitor?.isMonitoring) monitor.stopMonitoring();
    resetGlobalStateForTests();
  });
  return {
    monitor: () => monitor!,
    stop: () => expectValidReport(monitor!.stopMonitoring()),
  };
}
