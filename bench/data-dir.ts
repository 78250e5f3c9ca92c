// Where benchmarks find the public outcome data: --data-dir, else $SWITCHYARD_DATA_DIR, else
// ../shared/data when it exists. Says how to get the data when none is found.
import fs from 'node:fs';
import path from 'node:path';

export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv): string | null {
  const candidates = [flag, env.SWITCHYARD_DATA_DIR, path.resolve(__dirname, '..', '..', '..', 'shared', 'data'), path.resolve('..', 'shared', 'data')];
  for (const c of candidates) if (c && fs.existsSync(c)) return path.resolve(c);
  return null;
}

export const DATA_HELP = `No outcome data found. Pass --data-dir <dir> or set SWITCHYARD_DATA_DIR to a folder laid out as
  routellm/mmlu.train.jsonl, routellm/gsm8k.train.jsonl, routellm/models.json,
  routerbench/train.jsonl, routerbench/models.json, llmrouter/train.jsonl, llmrouter/models.json
(JSONL rows {id, source, prompt, outcomes {model: 0|1|score}, costs?}). Such files can be made from the public
RouteLLM (lm-sys/RouteLLM: evals/mmlu/responses, evals/gsm8k), RouterBench (withmartian/routerbench) and
LLMRouter (ulab-uiuc/LLMRouter) releases.`;
