// Cheap, language-agnostic prompt statistics that say something about difficulty which an averaged word
// embedding cannot: how long the prompt is, how many numbers it juggles, whether it is a multiple-choice
// question, a negated question, code or arithmetic. Measured on the public outcome data, these add more
// to GSM8K routing than the embedding does (see README "Routing quality"). A fixed, versioned list: a
// classifier trained on these values records the version in its sidecar.

export const PROMPT_STATS_VERSION = 'prompt-stats-v1';

export const PROMPT_STAT_NAMES = [
  'log_chars', 'log_words', 'log_numbers', 'log_distinct_numbers', 'has_decimal', 'has_fraction', 'has_percent',
  'has_currency', 'log_sentences', 'log_lines', 'mean_word_length', 'several_questions', 'negated_question',
  'roman_statements', 'code_markers', 'log_largest_number', 'quantity_words', 'answer_options', 'log_math_symbols',
  'uppercase_share',
] as const;

const NUMBER = /\d+(?:[.,]\d+)*/g;
const WORD = /[A-Za-z]+/g;
const QUANTITY = /\b(?:times|twice|half|each|per|every|total|remaining|left|average|rate|percent)\b/gi;
const NEGATION = /\b(?:not|except|false|incorrect|least)\b/i;
const OPTIONS = /^\s*\(?[A-D][.)]\s/gm;
const MATH = /[=+*^×÷<>]/g;

const count = (text: string, re: RegExp): number => {
  re.lastIndex = 0;
  let n = 0;
  while (re.exec(text) !== null) n++;
  return n;
};

export function promptStats(prompt: string): Float32Array {
  const numbers = prompt.match(NUMBER) ?? [];
  const words = prompt.match(WORD) ?? [];
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
  for (const n of numbers) largest = Math.max(largest, Number(n.replace(/,/g, '')) || 0);
  const sentences = prompt.split(/[.!?]+(?:\s|$)/).filter((s) => s.trim() !== '').length;
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
