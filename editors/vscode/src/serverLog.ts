// The server's stderr lines in the `dglsp` log channel, at the level the server logged them.
// No `vscode` import: the unit tests feed it lines.

export type ChannelLevel = "info" | "warn" | "error";

// dglsp logs "<date> <time> LEVEL logger: message" (dglsp/server/logs.py).
const LEVEL = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) /;

/**
 * Returns a function giving each line's channel level. `dglsp.logLevel` already chose what
 * the server writes, so DEBUG and INFO both show as info (a log channel hides debug lines
 * by default). Lines without a level (a traceback's) keep the level of the line before.
 */
export function serverLineLevels(): (line: string) => ChannelLevel {
  let last: ChannelLevel = "info";
  return (line) => {
    const match = LEVEL.exec(line);
    if (match) {
      last = match[1] === "WARNING" ? "warn" : match[1] === "ERROR" || match[1] === "CRITICAL" ? "error" : "info";
    }
    return last;
  };
}
