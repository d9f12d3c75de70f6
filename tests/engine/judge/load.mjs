// llama.cpp as the judge of model files: for each GGUF file given, loads it
// with node-llama-cpp, creates a context and evaluates a few tokens (so
// every weight is used once), and reports what llama.cpp and node-llama-cpp's
// own GGUF parser read: sizes, and every tensor's name, shape, type and
// file offset.
//   node tests/engine/judge/load.mjs OUT.json FILE...
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { getLlama, LlamaLogLevel } = await import(require.resolve('node-llama-cpp'));

const [out, ...files] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const results = [];
for (const file of files) {
  const r = { file };
  try {
    const model = await llama.loadModel({ modelPath: file });
    r.n_ctx_train = model.trainContextSize;
    r.n_embd = model.embeddingVectorSize;
    r.n_vocab = model.tokens.bos == null ? null : undefined;
    r.tensors = model.fileInfo.tensorInfo.map((t) => ({
      name: t.name, dims: t.dimensions.map(Number), type: t.ggmlType, file_offset: Number(t.fileOffset),
    }));
    const context = await model.createContext({ contextSize: 64 });
    const sequence = context.getSequence();
    const tokens = model.tokenize('Hello, world! 123');
    await sequence.evaluateWithoutGeneratingNewTokens(tokens);
    r.evaluated = tokens.length;
    await context.dispose();
    await model.dispose();
    r.ok = true;
  } catch (e) {
    r.ok = false;
    r.error = String(e && e.message || e);
  }
  results.push(r);
}
fs.writeFileSync(out, JSON.stringify(results));
await llama.dispose();
