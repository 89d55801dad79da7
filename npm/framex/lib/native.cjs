"use strict";
// Loads the addon built from crates/framex-node (`npm run build` puts it next to package.json).
const path = require("node:path");

const file = process.env.FRAMEX_NATIVE_PATH || path.join(__dirname, "..", "framex.node");
let native;
try {
  native = require(file);
} catch (err) {
  const e = new Error(
    `framex: cannot load the native addon ${file} (${err && err.message}). ` +
      "Build it from source with `npm run build` in the framex package folder " +
      "(needs Rust and the FFmpeg development packages that scripts/setup.sh installs).",
  );
  e.code = "ERR_FRAMEX_NATIVE";
  e.cause = err;
  throw e;
}
module.exports = native;
