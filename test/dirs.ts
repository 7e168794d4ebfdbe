import { afterEach } from "vitest";
import { tempDir } from "../harness/helpers.js";

/** A fresh directory per call, each removed after the test that made it. Call at the top of a file or describe. */
export function tempDirPerTest(): () => string {
  const made: { remove: () => void }[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) d.remove();
  });
  return () => {
    const d = tempDir();
    made.push(d);
    return d.path;
  };
}
