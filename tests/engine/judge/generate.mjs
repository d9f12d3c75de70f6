// llama.cpp as the judge of generation: loads a GGUF file with node-llama-cpp
// on the CPU, evaluates the prompt's token ids as given (no BOS added, no
// re-tokenizing) and generates N tokens greedily (temperature 0: llama.cpp's
// greedy sampler alone, no repetition penalty, no other stage), end-of-
// generation tokens included. Writes {"tokens":[…]} to OUT (or stdout);
// with --logprobs also "logprobs": for each step, llama.cpp's log-softmax of
// its logits over the whole vocabulary (null where the probability
// underflows), for diagnosing a disagreement.
//   node tests/engine/judge/generate.mjs --model FILE --prompt '[ids]' --n N
//        [--threads T] [--kv-type f16|f32] [--logprobs] [--out OUT.json]
// With --jobs FILE (a JSON array of {"model","prompt","n"}) it runs each job
// in one process and writes an array of {"model","tokens"} (and "logprobs").
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { getLlama, LlamaLogLevel } = await import(require.resolve('node-llama-cpp'));

function usage(msg) {
  console.error(`generate.mjs: ${msg}`);
  console.error('usage: node generate.mjs (--model FILE --prompt JSON --n N | --jobs FILE) ' +
    '[--threads T] [--kv-type f16|f32] [--logprobs] [--out FILE]');
  process.exit(2);
}

const opts = { threads: 2, kvType: 'f16' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], v = argv[i + 1];
  if (a === '--logprobs') { opts.logprobs = true; continue; }
  if (v === undefined) usage(`${a} needs a value`);
  i++;
  if (a === '--model') opts.model = v;
  else if (a === '--prompt') opts.prompt = JSON.parse(v);
  else if (a === '--n') opts.n = Number(v);
  else if (a === '--jobs') opts.jobs = JSON.parse(fs.readFileSync(v, 'utf8'));
  else if (a === '--threads') opts.threads = Number(v);
  else if (a === '--kv-type') opts.kvType = v;
  else if (a === '--out') opts.out = v;
  else usage(`unknown argument ${a}`);
}
const jobs = opts.jobs ?? [{ model: opts.model, prompt: opts.prompt, n: opts.n }];
for (const j of jobs) {
  if (!j.model || !Array.isArray(j.prompt) || j.prompt.length === 0 || !(j.n >= 1))
    usage('each job needs a model, a non-empty prompt of token ids and n >= 1');
}
if (!(opts.threads >= 1)) usage('--threads must be at least 1');
if (opts.kvType !== 'f16' && opts.kvType !== 'f32') usage('--kv-type is f16 or f32');

// maxThreads 0: the context's thread count is used as given.
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 0 });

async function generate(job) {
  const model = await llama.loadModel({ modelPath: job.model });
  // Room for the prompt and every generated token, so no context shift can
  // happen; one sequence; the plain (not flash) attention path.
  const need = job.prompt.length + job.n + 1;
  const context = await model.createContext({
    contextSize: Math.max(64, Math.ceil(need / 64) * 64),
    batchSize: 512,
    sequences: 1,
    threads: opts.threads,
    flashAttention: false,
    ...(opts.kvType === 'f32' ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
  });
  const sequence = context.getSequence();
  const tokens = [], logprobs = [];
  // evaluateWithMetadata() feeds the ids as they are; topK/topP/minP are not in the
  // chain when the temperature is 0 (node-llama-cpp's AddonSampler adds
  // only the greedy sampler), and no repeatPenalty means no penalty stage.
  // The probabilities are the softmax of the unmodified logits.
  const it = sequence.evaluateWithMetadata(job.prompt, { probabilities: Boolean(opts.logprobs) },
    { temperature: 0, yieldEogToken: true });
  const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  for await (const out of it) {
    tokens.push(out.token);
    if (opts.logprobs) {
      const row = new Array(nVocab).fill(null);
      for (const [t, p] of out.probabilities) row[t] = p > 0 ? Math.log(p) : null;
      logprobs.push(row);
    }
    if (tokens.length >= job.n) break;
  }
  await context.dispose();
  await model.dispose();
  return opts.logprobs ? { tokens, logprobs } : { tokens };
}

const results = [];
for (const job of jobs) results.push({ model: job.model, ...(await generate(job)) });
const text = JSON.stringify(opts.jobs ? results : { ...results[0], model: undefined });
if (opts.out) fs.writeFileSync(opts.out, text);
else console.log(text);
await llama.dispose();
