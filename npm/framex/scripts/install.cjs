"use strict";
// `npm install` builds the addon from source (Rust + the FFmpeg dev packages of
// scripts/setup.sh) unless one is already there. FRAMEX_SKIP_BUILD=1 skips it.
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
if (process.env.FRAMEX_SKIP_BUILD === "1" || fs.existsSync(path.join(root, "framex.node"))) process.exit(0);
const r = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
