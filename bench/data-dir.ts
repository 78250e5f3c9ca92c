// Where benchmarks find the public outcome data: --data-dir, else $SWITCHYARD_DATA_DIR, else
// ../shared/data when it exists. A folder named by the flag or the variable that is not there is an error; with
// none found, says how to get the data.
import fs from 'node:fs';
import path from 'node:path';

export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv): string | null {
  // A folder the user named that is not there is a mistake to report, not a reason to measure other data.
  for (const [named, by] of [[flag, '--data-dir'], [env.SWITCHYARD_DATA_DIR, 'SWITCHYARD_DATA_DIR']] as const) {
    if (named && !fs.existsSync(named)) throw new Error(`${by}: no such folder: ${named}`);
  }
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
