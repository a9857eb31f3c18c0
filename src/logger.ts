// pino, with every header that can carry a secret redacted at the source, so a
// careless `log.info({ req })` still cannot leak a token.
import pino, { type Logger } from "pino";

export type { Logger };

const SECRET_PATHS = [
  "authorization",
  "cookie",
  "password",
  "accessToken",
  "refreshToken",
  "*.authorization",
  "*.cookie",
  "*.password",
  "*.accessToken",
  "*.refreshToken",
  '*["set-cookie"]',
  '*["x-refresh-token"]',
  "*.headers.authorization",
  "*.headers.cookie",
  '*.headers["set-cookie"]',
  '*.headers["x-refresh-token"]',
];

export interface LoggerOptions {
  level: string;
  /** Tests pass a stream to capture every line. */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: "keyway" },
      redact: { paths: SECRET_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? standardOutput(),
  );
}

/**
 * stdout that gives up when its reader is gone. sonic-boom retries a failed
 * synchronous flush forever, so without this a closed pipe (EPIPE) turns the
 * final flush at exit into a busy loop and the process never stops.
 */
function standardOutput(): pino.DestinationStream {
  const destination = pino.destination({ dest: 1, sync: true });
  destination.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE" || error.code === "EBADF") destination.destroy();
  });
  return destination;
}
