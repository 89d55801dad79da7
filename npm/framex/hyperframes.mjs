// ESM entry of `framex/hyperframes`.
import hf from "./hyperframes.cjs";

export const { extractAllVideoFrames, resolveProjectRelativeSrc } = hf;
export default hf;
