import { closeSync, constants, openSync, writeSync } from 'node:fs';

/**
 * The one way the node tools change sysfs: write a value to an existing kernel attribute
 * (driver_override, <driver>/unbind, drivers_probe). Never creates a file, so a missing
 * attribute is an error on a real node and on a simulated one alike (the simulated tree has the
 * same attribute files as the kernel).
 */
export interface AttrWriter {
  write(path: string, value: string): void;
}

export const sysfsWriter: AttrWriter = {
  write(path, value) {
    const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
    try {
      writeSync(fd, value);
    } finally {
      closeSync(fd);
    }
  },
};
