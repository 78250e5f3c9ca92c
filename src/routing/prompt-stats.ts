// Cheap, language-agnostic prompt statistics that say something about difficulty which an averaged word
// embedding cannot: how long the prompt is, how many numbers it juggles, whether it is a multiple-choice
// question, a negated question, code or arithmetic. Measured on the public outcome data, these add more
// to GSM8K routing than the embedding does (see docs/routing-quality.md). A fixed, versioned list: a
// classifier trained on these values records the version in its sidecar (through its feature kind, which
// names the version it reads), so a later version only ever appends: v1 rows stay what they were.

export const PROMPT_STATS_VERSION = 'prompt-stats-v1';
export const PROMPT_STATS_V2_VERSION = 'prompt-stats-v2';

export const PROMPT_STAT_NAMES = [
  'log_chars', 'log_words', 'log_numbers', 'log_distinct_numbers', 'has_decimal', 'has_fraction', 'has_percent',
  'has_currency', 'log_sentences', 'log_lines', 'mean_word_length', 'several_questions', 'negated_question',
  'roman_statements', 'code_markers', 'log_largest_number', 'quantity_words', 'answer_options', 'log_math_symbols',
  'uppercase_share',
] as const;

/**
 * v2 appends five values. Screened by stacking each on the out-of-fold predictions of the v1 classifier
 * (5-fold, repeated fold draws): capitalised words (names of people and things: how many actors a word
 * problem tracks) carried the largest routing signal on GSM8K; on MMLU the answer options' word overlap
 * did (options that differ in a word or two: GPT-4 0.74 against Mixtral 0.55 in the top quarter, 0.82
 * against 0.75 in the bottom one), then the distinct-word share and the options' numeric share and length
 * (docs/routing-quality.md has the cross-validated result).
 */
export const PROMPT_STAT_V2_NAMES = [
  ...PROMPT_STAT_NAMES, 'log_capitalised_words', 'distinct_word_share', 'numeric_option_share', 'log_option_length',
  'option_word_overlap',
] as const;

const NUMBER = /\d+(?:[.,]\d+)*/g;
const WORD = /[A-Za-z]+/g;
const QUANTITY = /\b(?:times|twice|half|each|per|every|total|remaining|left|average|rate|percent)\b/gi;
const NEGATION = /\b(?:not|except|false|incorrect|least)\b/i;
// Indentation before an option letter: whitespace that is not a line break. A \s* here would let every
// line start in a run of blank lines rescan the whole run: a prompt of 40,000 newlines took 0.9 s
// (160,000: 14 s). The counts are the same: an option line preceded by blank lines still starts a line.
const INDENT = '[^\\S\\n\\r\\u2028\\u2029]*';
const OPTIONS = new RegExp(`^${INDENT}\\(?[A-D][.)]\\s`, 'gm');
const MATH = /[=+*^×÷<>]/g;
// ASCII on purpose, as measured: a capital followed by lower-case letters, a whole word.
const CAPITALISED = /\b[A-Z][a-z]+\b/g;
const OPTION_TEXT = new RegExp(`^${INDENT}\\(?[A-D][.)][ \\t]*(.*)$`, 'gm');
/** Pairs compared for option_word_overlap: the last 48 options (all of them in the public sets' few-shot prompts). */
const MAX_OVERLAP_OPTIONS = 48;
const OPTION_TOKEN = /[a-z0-9]+/g;

const count = (text: string, re: RegExp): number => {
  re.lastIndex = 0;
  let n = 0;
  while (re.exec(text) !== null) n++;
  return n;
};

/** `.`, `!` or `?`, by char code. */
const isSentenceEnd = (c: number): boolean => c === 46 || c === 33 || c === 63;
/** Exactly what /\s/ matches (and String.prototype.trim removes), by char code: a regex per character was 6× slower. */
const isSpace = (c: number): boolean =>
  c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;

/**
 * The pieces of `prompt.split(/[.!?]+(?:\s|$)/)` that hold more than white space, counted in one pass. The
 * split itself backtracks over a run of `.`, `!` or `?` that no white space follows, from every position
 * in it: a 40,000-dot prompt blocked the event loop for 2.8 s (a 1 MB body, about half an hour). A run
 * ends a sentence only when white space or the end follows it, and it does so whole, so one scan of each
 * run decides (the counts are the split's; a test compares them).
 */
export function countSentences(prompt: string): number {
  let sentences = 0;
  let content = false;
  let i = 0;
  while (i < prompt.length) {
    if (isSentenceEnd(prompt.charCodeAt(i))) {
      let j = i + 1;
      while (j < prompt.length && isSentenceEnd(prompt.charCodeAt(j))) j++;
      if (j === prompt.length || isSpace(prompt.charCodeAt(j))) {
        if (content) sentences++;
        content = false;
      } else content = true;
      i = j;
    } else {
      if (!isSpace(prompt.charCodeAt(i))) content = true;
      i++;
    }
  }
  return content ? sentences + 1 : sentences;
}

export function promptStats(prompt: string): Float32Array {
  return v1Stats(prompt, prompt.match(WORD) ?? []);
}

/** v1's values, given the prompt's words (WORD matches), which v2 reuses. */
function v1Stats(prompt: string, words: readonly string[]): Float32Array {
  const numbers = prompt.match(NUMBER) ?? [];
  let letters = 0;
  let upper = 0;
  let wordChars = 0;
  for (const w of words) wordChars += w.length;
  for (let i = 0; i < prompt.length; i++) {
    const c = prompt.charCodeAt(i);
    if (c >= 65 && c <= 90) {
      upper++;
      letters++;
    } else if (c >= 97 && c <= 122) letters++;
  }
  let largest = 0;
  // NUMBER joins a comma-separated list ("[100,101,…]") into one number, which past 309 digits is
  // Infinity: one such prompt made the column NaN for every training row. Such a number counts as the
  // largest finite one (finite values are as they always were: the statistics are versioned).
  for (const n of numbers) largest = Math.max(largest, Math.min(Number(n.replace(/,/g, '')) || 0, Number.MAX_VALUE));
  const sentences = countSentences(prompt);
  return Float32Array.from([
    Math.log1p(prompt.length),
    Math.log1p(words.length),
    Math.log1p(numbers.length),
    Math.log1p(new Set(numbers).size),
    /\d\.\d/.test(prompt) ? 1 : 0,
    /\d\/\d/.test(prompt) ? 1 : 0,
    /%|\bpercent/i.test(prompt) ? 1 : 0,
    /[$€£¥]/.test(prompt) ? 1 : 0,
    Math.log1p(sentences),
    Math.log1p(prompt.split('\n').length),
    words.length > 0 ? wordChars / words.length / 10 : 0,
    count(prompt, /\?/g) > 1 ? 1 : 0,
    NEGATION.test(prompt) ? 1 : 0,
    /\b(?:I|II|III|IV)[.)]\s/.test(prompt) ? 1 : 0,
    /```|\bdef |\bfunction\b|\breturn\b|[{};]\s*$/m.test(prompt) ? 1 : 0,
    Math.log10(1 + largest) / 3,
    count(prompt, QUANTITY) / 5,
    Math.min(count(prompt, OPTIONS), 8) / 4,
    Math.log1p(count(prompt, MATH)),
    letters > 0 ? upper / letters : 0,
  ]);
}

/** The v2 statistics: v1's values followed by the five appended in v2. */
export function promptStatsV2(prompt: string): Float32Array {
  const out = new Float32Array(PROMPT_STAT_V2_NAMES.length);
  const words = prompt.match(WORD) ?? [];
  out.set(v1Stats(prompt, words));
  let k = PROMPT_STAT_NAMES.length;
  // The prompt's first word is capitalised as a sentence start whatever it is; skip its first letter.
  out[k++] = Math.log1p(count(prompt.slice(1), CAPITALISED));
  out[k++] = words.length > 0 ? new Set(words.map((w) => w.toLowerCase())).size / words.length : 0;
  const options = [...prompt.matchAll(OPTION_TEXT)].map((m) => m[1]);
  out[k++] = options.length > 0 ? options.filter((o) => /\d/.test(o)).length / options.length : 0;
  out[k++] = options.length > 0 ? Math.log1p(options.reduce((a, o) => a + o.length, 0) / options.length) : 0;
  const compared = options.slice(-MAX_OVERLAP_OPTIONS);
  out[k++] = meanPairwiseJaccard(compared.map((o) => new Set(o.toLowerCase().match(OPTION_TOKEN) ?? [])));
  return out;
}

/** Mean Jaccard similarity over all pairs of sets (an empty pair counts 0); 0 with fewer than two sets. */
function meanPairwiseJaccard(sets: readonly Set<string>[]): number {
  let sum = 0;
  let pairs = 0;
  for (let a = 0; a < sets.length; a++) {
    for (let b = a + 1; b < sets.length; b++) {
      let common = 0;
      for (const t of sets[a]) if (sets[b].has(t)) common++;
      const union = sets[a].size + sets[b].size - common;
      sum += union > 0 ? common / union : 0;
      pairs++;
    }
  }
  return pairs > 0 ? sum / pairs : 0;
}
