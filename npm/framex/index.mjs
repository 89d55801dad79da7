// ESM entry: the same functions as index.cjs (one implementation, loaded once).
import framex from "./index.cjs";

export const { extract, probe, FrameLookup, lookup, framePath, FramexInputError, extractAllVideoFrames } = framex;
export default framex;
