// llama.cpp's speed on a model file, through node-llama-cpp on the CPU, the
// way llama-bench measures it (-p P -n N -r R): prompt processing is P token
// ids evaluated in a fresh sequence (batches of 512); generation is N
// single-token decode steps with greedy sampling from an empty sequence (one
// token in, then each generated token fed back). One untimed warm-up of each,
// then R timed repeats; prints the median tokens/s and the spread
// ((max - min) / median) as JSON.
//   node tests/engine/judge/bench.mjs --model FILE [--threads 2] [-p 512]
//        [-n 128] [--repeat 5] [--flash-attention auto|on|off]
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { getLlama, LlamaLogLevel } = await import(require.resolve('node-llama-cpp'));

function usage(msg) {
  console.error(`bench.mjs: ${msg}`);
  console.error('usage: node bench.mjs --model FILE [--threads N] [-p N] [-n N] [--repeat N] ' +
    '[--flash-attention auto|on|off]');
  process.exit(2);
}

const o = { threads: 2, p: 512, n: 128, repeat: 5, fa: 'auto' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const a = argv[i], v = argv[i + 1];
  if (v === undefined) usage(`${a} needs a value`);
  if (a === '--model') o.model = v;
  else if (a === '--threads') o.threads = Number(v);
  else if (a === '-p') o.p = Number(v);
  else if (a === '-n') o.n = Number(v);
  else if (a === '--repeat') o.repeat = Number(v);
  else if (a === '--flash-attention') o.fa = v;
  else usage(`unknown argument ${a}`);
}
if (!o.model) usage('--model is required');
for (const k of ['threads', 'p', 'n', 'repeat'])
  if (!Number.isInteger(o[k]) || o[k] < 1) usage(`${k} must be a positive integer`);
if (!['auto', 'on', 'off'].includes(o.fa)) usage('--flash-attention is auto, on or off');

// maxThreads 0: the context uses exactly the threads it is given.
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 0 });
const model = await llama.loadModel({ modelPath: o.model });
const context = await model.createContext({
  contextSize: Math.ceil((Math.max(o.p, o.n) + 64) / 256) * 256,
  batchSize: 512,
  sequences: 1,
  threads: o.threads,
  flashAttention: o.fa === 'auto' ? 'auto' : o.fa === 'on',
});
const sequence = context.getSequence();

// Token ids spread over the vocabulary, the same every run (xorshift32).
const vocabSize = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
let state = 0x9e3779b9;
function nextId() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % vocabSize;
}
const prompt = Array.from({ length: o.p }, nextId);
const first = nextId();

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

async function promptRun() {
  await sequence.clearHistory();
  const t0 = process.hrtime.bigint();
  await sequence.evaluateWithoutGeneratingNewTokens(prompt);
  return o.p / seconds(t0);
}

async function generationRun() {
  await sequence.clearHistory();
  let made = 0;
  const t0 = process.hrtime.bigint();
  for await (const token of sequence.evaluate([first], { temperature: 0, yieldEogToken: true })) {
    void token;
    if (++made >= o.n) break;
  }
  return o.n / seconds(t0);
}

function summary(rates) {
  const s = [...rates].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, spread: (s[s.length - 1] - s[0]) / median };
}

await promptRun();
await generationRun();
const pp = [], tg = [];
for (let r = 0; r < o.repeat; r++) {
  pp.push(await promptRun());
  tg.push(await generationRun());
}
const ps = summary(pp), ts = summary(tg);
console.log(JSON.stringify({
  pp_tokens_per_s: Number(ps.median.toFixed(2)),
  tg_tokens_per_s: Number(ts.median.toFixed(2)),
  pp_spread: Number(ps.spread.toFixed(4)),
  tg_spread: Number(ts.spread.toFixed(4)),
  threads: o.threads, p: o.p, n: o.n, repeat: o.repeat,
  flash_attention: context.flashAttention,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
