import type { Host } from '../../sys/host.js';
import type { Level } from '../shared/verdict.js';

/** One line of the doctor's report. `fix` tells the operator what to do about a warn/fail. */
export type Status = Level;
export interface Check {
  /** stable id, e.g. "iommu", "hugepages", "nic:0000:00:06.0" (the part before ':' is the kind) */
  id: string;
  status: Status;
  message: string;
  fix?: string;
}

export interface DoctorOptions {
  /** the running tool's version, compared with the installed plugin's */
  version: string;
  cniBinDir: string;
  dpConfig: string;
  /** the file this tool runs from (the bundle or the single executable): printed fixes name it */
  self: string;
  /** how long the installed plugin may take to answer --version and CNI VERSION (a slow, loaded node: generous) */
  pluginTimeoutMs: number;
}

export type CheckFn = (host: Host, o: DoctorOptions) => Check[];

export const pass = (id: string, message: string): Check => ({ id, status: 'pass', message });
export const warn = (id: string, message: string, fix?: string): Check => (fix ? { id, status: 'warn', message, fix } : { id, status: 'warn', message });
export const fail = (id: string, message: string, fix?: string): Check => (fix ? { id, status: 'fail', message, fix } : { id, status: 'fail', message });
