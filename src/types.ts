/**
 * Public types of stagemeter. Units are in the names: `...Ms` milliseconds, `...Mb` MiB
 * (bytes / 1048576), `...Percent` percent of one CPU core, `rowsPerSecond` rows per second.
 * `t` is always milliseconds since the run started.
 */
export type * from './model/config';
export type * from './model/live';
export type * from './model/records';
export type * from './model/run';
export type * from './model/analysis';
export type * from './model/report';
