/**
 * Minimal structured logging to stderr (one JSON object per line).
 * `TOOLMESH_LOG=debug|info|warn|error|silent` sets the threshold (default info).
 */

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = Exclude<keyof typeof LEVELS, 'silent'>;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(threshold = (process.env.TOOLMESH_LOG ?? 'info') as keyof typeof LEVELS): Logger {
  const min = LEVELS[threshold] ?? LEVELS.info;
  return {
    log(level, msg, fields) {
      if (LEVELS[level] < min) return;
      process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }) + '\n');
    },
  };
}
