"use strict";
// framex for Node: see index.d.ts for the API and README.md for examples.
const framex = require("./lib/framex.cjs");
const { extractAllVideoFrames } = require("./lib/hyperframes.cjs");

module.exports = {
  extract: framex.extract,
  probe: framex.probe,
  FrameLookup: framex.FrameLookup,
  lookup: framex.lookup,
  framePath: framex.framePath,
  FramexInputError: framex.FramexInputError,
  extractAllVideoFrames,
};
