// The tokenizer corpus: seeded, generated strings that stress every rule of
// the pre-tokenizers and the merges: source code in several languages,
// scripts from around the world, emoji and ZWJ sequences, digit runs,
// white space runs, contractions in both cases, special-token text, and
// random mixtures. Strings are NFC (Qwen's reference tokenizer normalizes
// to NFC, llama.cpp does not: NFC input is the same for both).
//
// Strings the judges are not expected to agree on are kept out of it and
// compared with llama.cpp only (DIVERGENT below): text that is not NFC
// (Qwen's reference tokenizer normalizes it; llama.cpp and agentd tokenize
// what they are given), U+0085 and U+FEFF (white space to Unicode and
// llama.cpp but not to JavaScript's \s, or the other way round), and the
// long s U+017F (JavaScript's case-insensitive contractions fold it to 's').
// The random characters come from blocks assigned by Unicode 15.1, on which
// llama.cpp's tables and agentd's (Unicode 17, generated with node) agree.

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

const CODE = [
  'int main(int argc, char **argv)\n{\n\tif (argc < 2)\n\t\treturn 1;\n\tprintf("%s\\n", argv[1]);\n\treturn 0;\n}\n',
  'static size_t buf_len(const struct buf *b) { return b ? b->len : 0; }',
  'def parse_date(s: str) -> datetime:\n    """Parse ISO weeks: 2024-W03-2."""\n    if not s:\n        raise ValueError(f"bad date {s!r}")\n    return datetime.strptime(s, "%G-W%V-%u")\n',
  'const sum = (xs) => xs.reduce((a, b) => a + b, 0);\nexport default { sum };\n',
  'fn main() -> Result<(), Box<dyn Error>> {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!("{:?}", v);\n    Ok(())\n}\n',
  'package main\n\nimport "fmt"\n\nfunc main() {\n\tfor i := 0; i < 3; i++ {\n\t\tfmt.Println(i)\n\t}\n}\n',
  '#!/bin/sh\nset -eu\nfor f in *.c; do\n  cc -O2 -Wall -c "$f" || exit 1\ndone\necho "done: $(date +%s)"\n',
  'SELECT id, name FROM tasks WHERE state = \'queued\' ORDER BY priority DESC, created_at ASC LIMIT 10;',
  '<!DOCTYPE html>\n<html lang="en">\n  <body>\n    <div class="x">&lt;tag&gt; &amp; more</div>\n  </body>\n</html>\n',
  '{"error": {"code": "invalid_argument", "message": "field \\"repo\\" is required"}, "ids": [1, 22, 333]}',
  'class Foo(Base):\n    def __init__(self, *args, **kwargs):\n        super().__init__(*args, **kwargs)\n        self._x = None  # TODO\n',
  '    }\n\n    return rc;\n}\n\n\n/* comment */\n',
  '#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n',
  'diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,4 @@\n-old line\n+new line\n context\n',
  'x = [i**2 for i in range(10) if i % 2 == 0]; y = {k: v for k, v in zip("abc", (1, 2, 3))}',
  'template<typename T> std::vector<T> f(const std::vector<T>& v) { return {v.rbegin(), v.rend()}; }',
  'let mut map: HashMap<&str, i32> = HashMap::new(); map.insert("key", -42);',
  'if [[ -z "${VAR:-}" ]]; then echo \'unset\' >&2; fi',
  'public static void main(String[] args) throws IOException { System.out.println("Hi"); }',
  'a += b; a -= c; a *= 2; a /= 3; a %= 4; a <<= 1; a >>= 2; a &&= b || !c;',
];

const SCRIPTS = [
  'Ünïcödé façade naïve café crème brûlée', 'Größe Straße Äpfel Öl Übermut', 'Ελληνικά κείμενα γράμματα',
  'русский текст и ещё немного', 'עברית טקסט', 'العربية نص قصير', 'हिन्दी पाठ देवनागरी',
  '日本語のテキストとカタカナ', '中文文本和标点。', '한국어 텍스트입니다', 'ภาษาไทยข้อความ',
  'Tiếng Việt có dấu', 'ქართული ტექსტი', 'Հայերեն տեքստ', 'বাংলা লেখা', 'தமிழ் உரை', 'Ğüşçöı Türkçe',
  'Ⅻ Ⅳ ⅷ roman', '²³¹ ½ ¾ ⅓', '١٢٣ ٤٥٦', '１２３ ＡＢＣ ｱｲｳ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝', '«quotes» „more“ ‘single’',
  '— – … · • ¶ § © ® ™ € £ ¥ ₹', 'ǅ ǈ ǋ ǲ title case', 'ﬁ ﬂ ligatures', 'Ω≈ç√∫˜µ≤≥÷',
];

const EMOJI = [
  '😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷🇯🇵', '❤️', '1️⃣', '🧑🏿‍💻', '👩‍❤️‍💋‍👨', '🫠', '🐈‍⬛', '✈️', '☕', '🤷‍♀️',
];

const WORDS = ['the', 'agent', 'patch', 'test', 'Tokenizer', 'GGUF', 'llama', 'qwen', 'merge', 'rank', 'hello',
  'world', 'données', 'ß', 'İstanbul', 'ǅemal', 'x', 'I', 'a', 'HTTP', 'JSON', 'ok'];

const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D",
  "'rE", "'lL", "'x", "'", "''", "'1"];

const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|begin_of_text|>', '<|eot_id|>',
  '<|start_header_id|>', '<|end_header_id|>', '<tool_call>', '</tool_call>', '<think>', '<|fim_prefix|>',
  '<|im_sta', '<|im_start|', 'im_start|>', '<||>', '<|reserved_special_token_3|>'];

const SPACES = [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\r\n', '\r', ' \n', '\n ', ' \t ', '\u00a0', '\u3000',
  '\u2009', '\u200a', '\u2028', '\v', '\f', '        '];

const PUNCT = ['.', ',', '!', '?', ';', ':', '(', ')', '[', ']', '{', '}', '"', '#', '$', '%', '&', '*', '+', '-',
  '/', '<', '=', '>', '@', '\\', '^', '_', '`', '|', '~', '...', '->', '=>', '!=', '==', '::', '//', '/*', '*/'];

function digits(r) {
  const n = 1 + Math.floor(r() * 14);
  let s = '';
  for (let i = 0; i < n; i++) s += String(Math.floor(r() * 10));
  return s;
}

function pick(r, xs) {
  return xs[Math.floor(r() * xs.length)];
}

function mixed(r, parts) {
  let s = '';
  for (let i = 0; i < parts; i++) {
    const k = r();
    if (k < 0.3) s += pick(r, WORDS);
    else if (k < 0.42) s += pick(r, SPACES);
    else if (k < 0.52) s += pick(r, PUNCT);
    else if (k < 0.62) s += digits(r);
    else if (k < 0.7) s += pick(r, CONTRACTIONS);
    else if (k < 0.78) s += pick(r, EMOJI);
    else if (k < 0.86) s += [...pick(r, SCRIPTS)].slice(0, 1 + Math.floor(r() * 8)).join('');
    else if (k < 0.9) s += pick(r, SPECIALS);
    else s += ' ';
  }
  return s;
}

// Random code points from ranges that every implementation classifies the
// same way (assigned in Unicode 15.1 or earlier).
const RANGES = [[0x20, 0x7e], [0xa0, 0x17e], [0x180, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x5d0, 0x5ea],
  [0x620, 0x64a], [0x660, 0x669], [0x900, 0x97f], [0x2000, 0x2027], [0x2030, 0x205e], [0x2190, 0x21ff],
  [0x3040, 0x309f], [0x4e00, 0x4fff], [0xac00, 0xad00], [0x1f600, 0x1f64f], [0xff01, 0xff5e]];

function randomChars(r, n) {
  let s = '';
  for (let i = 0; i < n; i++) {
    const [a, b] = pick(r, RANGES);
    const cp = a + Math.floor(r() * (b - a + 1));
    if (cp === 0x17f || cp === 0x85 || cp === 0xfeff) continue;
    s += String.fromCodePoint(cp);
  }
  return s;
}

export function makeCorpus(seed = 1, n = 2400) {
  const r = rng(seed);
  const out = [];
  // Fixed cases first: each family once as is.
  for (const c of CODE) out.push(c);
  for (const s of SCRIPTS) out.push(s);
  for (const e of EMOJI) out.push(e, `${e}${e}`, ` ${e} text`);
  for (const c of CONTRACTIONS) out.push(`it${c} here`, `IT${c.toUpperCase()}`, c);
  for (const s of SPECIALS) out.push(s, `a${s}b`, ` ${s} `, `${s}${s}`);
  for (const w of SPACES) out.push(w, `a${w}b`, `${w}x${w}`, `x${w}${w}${w}`, `${w}${w}`);
  for (let len = 1; len <= 24; len++) out.push('9'.repeat(len), `x${'7'.repeat(len)}y`, ` ${'1234567890'.slice(0, len % 11)}`);
  out.push('', ' ', 'a', '\n', 'Hello, world!', 'hello world', 'HELLO WORLD', "I'm here, you're there, it's done.");
  while (out.length < n) {
    const k = r();
    if (k < 0.25) {
      // Code with random indentation and identifiers.
      let c = pick(r, CODE);
      if (r() < 0.5) c = c.replace(/\t/g, '    ');
      if (r() < 0.3) c = c.replace(/\n/g, '\r\n');
      out.push(c + pick(r, WORDS) + digits(r));
    } else if (k < 0.6) {
      out.push(mixed(r, 1 + Math.floor(r() * 30)));
    } else if (k < 0.8) {
      out.push(randomChars(r, 1 + Math.floor(r() * 40)));
    } else if (k < 0.9) {
      const w = pick(r, SPACES);
      out.push(`${pick(r, WORDS)}${w.repeat(1 + Math.floor(r() * 6))}${pick(r, WORDS)}${pick(r, SPACES)}`);
    } else if (k < 0.97) {
      out.push(`${digits(r)}${pick(r, PUNCT)}${digits(r)} ${digits(r)}${pick(r, WORDS)}${digits(r)}`);
    } else {
      // A long one: several kilobytes.
      let s = '';
      while (s.length < 2000 + r() * 3000) s += mixed(r, 20) + pick(r, CODE);
      out.push(s);
    }
  }
  const lone = /[\uD800-\uDFFF]/u;
  for (const s of out) if (lone.test(s)) throw new Error(`corpus string with a lone surrogate: ${JSON.stringify(s)}`);
  return out.map((s) => s.normalize('NFC'));
}

// Compared with llama.cpp only (see the top of this file).
export const DIVERGENT = [
  'a\u0085b', 'x\u0085\u0085 y', '\ufeffhello', 'a \ufeff b', "it'ſ", "IT'ſ here", 'e\u0301', 'Cafe\u0301 ',
  '\u1e9b\u0323', 'A\u030a', '\u0958', 'ﬀ', '\u0085',
];
