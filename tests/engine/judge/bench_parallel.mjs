// llama.cpp's aggregate throughput with N sequences decoded together, through
// node-llama-cpp on the CPU, for comparison with agentd's serving mode. One
// context with N sequences, each with its own KV cells (node-llama-cpp gives
// every sequence `contextSize` cells: the native context has contextSize * N,
// not unified). Each round: every sequence gets its own P token ids, all N
// prompts evaluated at once (prefill, timed on its own: N * P / seconds); then
// every sequence is fed one more token id and generates exactly G tokens
// greedily (temperature 0; end-of-generation tokens do not stop it), all N
// concurrently, timed from the end of the prefill to the end of the last
// sequence: N * G / seconds.
// node-llama-cpp puts the decodes that the sequences of a context have queued
// into one llama_decode (createContext's `batching`: dispatchSchedule
// "nextCycle" dispatches on the next event-loop turn, or at once when every
// sequence has a decode queued; itemPrioritizationStrategy
// "maximumParallelism" shares a batch out among the sequences). With
// --schedule step (the default) the N sequences' evaluate() loops are driven in
// lockstep, as a server's decode loop does, so that each generation step is
// one llama_decode of N tokens; with --schedule free each loop runs on its
// own, and a sequence whose sampling finishes late misses a step's batch and
// goes in the next one (more, smaller decodes, sampling beside decoding).
// The llama_decode calls of the generation phase and their tokens are counted
// at the context's native batch and reported per run (decode_steps: G when
// every step carried all N sequences, as --schedule step requires;
// tg_decode_seconds: time inside llama_decode). One untimed warm-up round,
// then R timed rounds; prints the medians and the spread ((max - min) /
// median) as JSON.
//   node tests/engine/judge/bench_parallel.mjs --model FILE [--threads 2]
//        --parallel N [-p 128] [-n 64] [--repeat 3] [--schedule step|free]
//        [--flash-attention auto|on|off]
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { getLlama, LlamaLogLevel } = await import(require.resolve('node-llama-cpp'));

function usage(msg) {
  console.error(`bench_parallel.mjs: ${msg}`);
  console.error('usage: node bench_parallel.mjs --model FILE [--threads N] --parallel N [-p N] [-n N] ' +
    '[--repeat N] [--schedule step|free] [--flash-attention auto|on|off]');
  process.exit(2);
}

const o = { threads: 2, p: 128, n: 64, repeat: 3, fa: 'auto', schedule: 'step' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const a = argv[i], v = argv[i + 1];
  if (v === undefined) usage(`${a} needs a value`);
  if (a === '--model') o.model = v;
  else if (a === '--threads') o.threads = Number(v);
  else if (a === '--parallel') o.parallel = Number(v);
  else if (a === '-p') o.p = Number(v);
  else if (a === '-n') o.n = Number(v);
  else if (a === '--repeat') o.repeat = Number(v);
  else if (a === '--flash-attention') o.fa = v;
  else if (a === '--schedule') o.schedule = v;
  else usage(`unknown argument ${a}`);
}
if (!o.model) usage('--model is required');
if (o.parallel === undefined) usage('--parallel is required');
for (const k of ['threads', 'parallel', 'p', 'n', 'repeat'])
  if (!Number.isInteger(o[k]) || o[k] < 1) usage(`${k} must be a positive integer`);
if (!['auto', 'on', 'off'].includes(o.fa)) usage('--flash-attention is auto, on or off');
if (!['step', 'free'].includes(o.schedule)) usage('--schedule is step or free');

const N = o.parallel;
// maxThreads 0: the context uses exactly the threads it is given.
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 0 });
const model = await llama.loadModel({ modelPath: o.model });
const context = await model.createContext({
  // Per sequence: the prompt, the fed token and the generated ones, with
  // slack so that no context shift happens.
  contextSize: Math.ceil((o.p + o.n + 64) / 256) * 256,
  // One generation step (N tokens) fits one batch.
  batchSize: Math.max(512, N),
  sequences: N,
  threads: o.threads,
  flashAttention: o.fa === 'auto' ? 'auto' : o.fa === 'on',
  batching: { dispatchSchedule: 'nextCycle', itemPrioritizationStrategy: 'maximumParallelism' },
});
const sequences = Array.from({ length: N }, () => context.getSequence());

// The native batch as node-llama-cpp fills it: initBatch(tokens) then one
// decodeBatch() (llama_decode) per batch. Counted to check that the
// generation steps of the N sequences share one llama_decode.
const decodes = { calls: 0, tokens: 0, minTokens: Infinity, maxTokens: 0, pending: 0, seconds: 0 };
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
{
  const ctx = context._ctx;
  if (typeof ctx?.initBatch !== 'function' || typeof ctx.decodeBatch !== 'function')
    throw new Error('node-llama-cpp: no native batch to count llama_decode calls on (not 3.21?)');
  const initBatch = ctx.initBatch.bind(ctx), decodeBatch = ctx.decodeBatch.bind(ctx);
  // The prototype's methods are read-only: shadow them on the instance.
  Object.defineProperty(ctx, 'initBatch', {
    value: (size) => { decodes.pending = size; return initBatch(size); },
  });
  Object.defineProperty(ctx, 'decodeBatch', {
    value: (...args) => {
      decodes.calls++;
      decodes.tokens += decodes.pending;
      decodes.minTokens = Math.min(decodes.minTokens, decodes.pending);
      decodes.maxTokens = Math.max(decodes.maxTokens, decodes.pending);
      const t0 = process.hrtime.bigint();
      return Promise.resolve(decodeBatch(...args)).finally(() => { decodes.seconds += seconds(t0); });
    },
  });
}
function resetDecodes() {
  Object.assign(decodes, { calls: 0, tokens: 0, minTokens: Infinity, maxTokens: 0, pending: 0, seconds: 0 });
}

// Token ids spread over the vocabulary, the same every run (xorshift32); each
// sequence its own prompt and first generation input.
const vocabSize = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
let state = 0x9e3779b9;
function nextId() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % vocabSize;
}
const prompts = sequences.map(() => Array.from({ length: o.p }, nextId));
const firsts = sequences.map(() => nextId());

// Greedy generation from the sequence's first token id, each generated token
// fed back; end-of-generation tokens are yielded like any other.
const generator = (i) => sequences[i].evaluate([firsts[i]], { temperature: 0, yieldEogToken: true });

// --schedule free: each sequence runs its own evaluate() loop, node-llama-cpp
// batching whatever decodes are queued when it dispatches (a sequence whose
// sampling finishes late misses the step and goes in the next one).
async function generateFree(i) {
  let made = 0;
  for await (const token of generator(i)) {
    void token;
    if (++made >= o.n) break;
  }
  return made;
}

// --schedule step: the N evaluate() loops driven in lockstep, as a server's
// decode loop does: G steps; in each, every sequence is asked for its next
// token in the same turn of the event loop, so all N decodes are queued
// together (node-llama-cpp dispatches at once when every sequence has one
// queued), and the next step starts when all N have their token.
async function generateSteps() {
  const gens = sequences.map((_, i) => generator(i));
  const made = new Array(N).fill(0);
  try {
    for (let step = 0; step < o.n; step++) {
      // Let the dispatch loop of the previous step finish, so that it does
      // not take the first of this step's decodes on their own.
      await new Promise((resolve) => setImmediate(resolve));
      const results = await Promise.all(gens.map((g) => g.next()));
      results.forEach((r, i) => {
        if (r.done) throw new Error(`sequence ${i} stopped at step ${step}`);
        made[i]++;
      });
    }
  } finally {
    await Promise.all(gens.map((g) => g.return()));
  }
  return made;
}

async function round() {
  for (const s of sequences) await s.clearHistory();
  resetDecodes();
  const t0 = process.hrtime.bigint();
  await Promise.all(sequences.map((s, i) => s.evaluateWithoutGeneratingNewTokens(prompts[i])));
  const prefill = seconds(t0);
  const prefillSteps = decodes.calls;
  resetDecodes();
  const t1 = process.hrtime.bigint();
  const made = o.schedule === 'step'
    ? await generateSteps()
    : await Promise.all(sequences.map((_, i) => generateFree(i)));
  const tg = seconds(t1);
  const short = made.findIndex((m) => m !== o.n);
  if (short >= 0) throw new Error(`sequence ${short} generated ${made[short]} tokens, not ${o.n}`);
  if (decodes.tokens !== N * o.n)
    throw new Error(`generation decoded ${decodes.tokens} tokens, not ${N * o.n}`);
  if (o.schedule === 'step' && decodes.calls !== o.n)
    throw new Error(`generation took ${decodes.calls} llama_decode calls, not ${o.n} of ${N} tokens`);
  return {
    prefill: N * o.p / prefill,
    tg: N * o.n / tg,
    tg_seconds: Number(tg.toFixed(4)),
    tg_decode_seconds: Number(decodes.seconds.toFixed(4)),
    prefill_decode_steps: prefillSteps,
    decode_steps: decodes.calls,
    min_step_tokens: decodes.minTokens,
    max_step_tokens: decodes.maxTokens,
  };
}

function summary(rates) {
  const s = [...rates].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, spread: (s[s.length - 1] - s[0]) / median };
}

await round();
const runs = [];
for (let r = 0; r < o.repeat; r++) runs.push(await round());
const tg = summary(runs.map((r) => r.tg));
const pp = summary(runs.map((r) => r.prefill));
console.log(JSON.stringify({
  parallel: N, p: o.p, n: o.n, threads: o.threads,
  aggregate_tg_tokens_per_s: Number(tg.median.toFixed(2)),
  aggregate_tg_spread: Number(tg.spread.toFixed(4)),
  prefill_tokens_per_s: Number(pp.median.toFixed(2)),
  prefill_spread: Number(pp.spread.toFixed(4)),
  repeat: o.repeat, schedule: o.schedule, flash_attention: context.flashAttention,
  runs: runs.map(({ prefill, tg, ...rest }) => ({
    prefill_tokens_per_s: Number(prefill.toFixed(2)),
    aggregate_tg_tokens_per_s: Number(tg.toFixed(2)),
    ...rest,
  })),
}));
for (const s of sequences) s.dispose();
await context.dispose();
await model.dispose();
await llama.dispose();
