"use strict";
// `framex/hyperframes`: the drop-in for `@hyperframes/engine`'s extraction call.
const { extractAllVideoFrames, resolveProjectRelativeSrc } = require("./lib/hyperframes.cjs");

module.exports = { extractAllVideoFrames, resolveProjectRelativeSrc };
