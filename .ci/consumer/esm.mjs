// ESM consumers get the same single instance through named imports.
import { createPerformanceMonitor, getMonitor, setMonitor, withStage } from 'stagemeter';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cjs = require('stagemeter');
const monitor = createPerformanceMonitor({ enableMemoryTracking: false });
setMonitor(monitor);
if (cjs.getMonitor() !== getMonitor()) throw new Error('import and require see different singletons');
monitor.startMonitoring();
withStage('esm', (rows) => rows.length)([1, 2, 3]);
const report = monitor.stopMonitoring();
if (report.stages[0]?.rowsProcessed !== 3) throw new Error('ESM stage not recorded');
console.log('esm ok');
