import Ajv from 'ajv';
import { reportSchema } from '../../src/index';
import type { PerformanceReport } from '../../src/types';

const validate = new Ajv({ allErrors: true, strict: true }).compile(reportSchema);

/** Asserts that a report (object or JSON text) validates against docs/report.schema.json. */
export function expectValidReport(report: PerformanceReport | string): PerformanceReport {
  const obj = (typeof report === 'string' ? JSON.parse(report) : JSON.parse(JSON.stringify(report))) as PerformanceReport;
  const ok = validate(obj);
  if (!ok) throw new Error(`report does not validate:\n${JSON.stringify(validate.errors, null, 2)}`);
  return obj;
}
