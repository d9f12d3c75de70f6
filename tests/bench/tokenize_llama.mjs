// The llama.cpp side of tests/bench/tokenize.sh: tokenizes a text file with
// node-llama-cpp (vocabulary only) and prints "TOKENS SECONDS" for the best
// of RUNS calls on the whole text.
//   node tests/bench/tokenize_llama.mjs MODEL TEXT_FILE RUNS
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'engine', 'judge', 'package.json'));
const { getLlama, LlamaLogLevel } = await import(require.resolve('node-llama-cpp'));
const [modelPath, textPath, runs] = process.argv.slice(2);
const text = fs.readFileSync(textPath, 'utf8');
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath, vocabOnly: true });
let best = Infinity, n = 0;
for (let i = 0; i < Number(runs || 3); i++) {
  const t0 = process.hrtime.bigint();
  n = model.tokenize(text, false).length;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, s);
}
console.log(`${n} ${best}`);
await model.dispose();
await llama.dispose();
