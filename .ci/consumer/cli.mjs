// Two runs of a small pipeline with the packed package, for the CLI checks of pack-check.sh:
// reports/base.json, and reports/head.json where `score` does three times the work.
import { createPerformanceMonitor, withStage } from 'stagemeter';

function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

for (const [name, factor] of [['base', 1], ['head', 3]]) {
  const monitor = createPerformanceMonitor({ outputPath: `reports/${name}.json`, enableMemoryTracking: false });
  monitor.startMonitoring({ runName: 'pack-cli' });
  const load = withStage('load', (n) => Array.from({ length: n }, (_, i) => i), { monitor });
  const score = withStage('score', (rows) => (spin(4 * factor), rows.length), { monitor });
  for (let i = 0; i < 20; i++) score(load(100));
  monitor.stopMonitoring();
}
console.log('cli runs written');
