// The TypeScript declarations: compiled with `tsc` against a file that uses every export and
// swaps the drop-in for @hyperframes/engine's own function type (both directions).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

const tsc = (config) => spawnSync(process.execPath, [path.join(here, "..", "node_modules", "typescript", "bin", "tsc"), "-p", path.join(here, config)], { encoding: "utf8" });

test("index.d.ts and hyperframes.d.ts are valid declarations on their own", () => {
  const r = tsc("tsconfig.decls.json");
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});

// HyperFrames' own .d.ts files do not all compile under nodenext, so their insides are not
// checked (skipLibCheck); every use of theirs and ours in types.ts is.
test("every export is typed, and the drop-in's types match @hyperframes/engine's both ways", () => {
  const r = tsc("tsconfig.json");
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
