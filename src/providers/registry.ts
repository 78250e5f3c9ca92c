// Turns the configured models into providers through an explicit table, so a reader sees every
// provider kind in one place and a bad name can be answered with the valid ones.
import type { ModelConfig } from '../config/schema';
import { ConfigError } from '../errors';
import { createOpenAICompatibleProvider } from './openai-compatible-provider';
import { createSimProvider } from './sim-provider';
import type { ChatProvider } from './types';

export interface ProviderDeps {
  fetch: typeof fetch;
  /** Where `apiKeyEnv` names are looked up (process.env in main.ts, a plain object in tests). */
  env: Record<string, string | undefined>;
  /** For the sim provider; default: real time. */
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export type ProviderFactory = (model: ModelConfig, deps: ProviderDeps) => ChatProvider;

function apiKeyFor(model: ModelConfig, env: ProviderDeps['env']): string | undefined {
  if (!model.apiKeyEnv) return undefined; // local servers (Ollama, llama.cpp) need no key
  const key = env[model.apiKeyEnv];
  // The message names the variable only: its value must never appear in errors or logs.
  if (!key) throw new ConfigError(`model "${model.id}": environment variable ${model.apiKeyEnv} (apiKeyEnv) is not set`, 'missing_api_key');
  return key;
}

export const providerFactories: Readonly<Record<ModelConfig['provider'], ProviderFactory>> = {
  openai: (model, deps) => {
    if (!model.baseUrl) throw new ConfigError(`model "${model.id}": provider "openai" needs baseUrl`);
    return createOpenAICompatibleProvider({
      modelId: model.id,
      baseUrl: model.baseUrl,
      apiKey: apiKeyFor(model, deps.env),
      upstreamModel: model.upstreamModel ?? model.id,
      timeouts: model.timeouts,
      fetch: deps.fetch,
    });
  },
  sim: (model, deps) => createSimProvider({ modelId: model.id, options: model.sim, now: deps.now, sleep: deps.sleep, timeouts: model.timeouts }),
};

export function buildProviders(models: readonly ModelConfig[], deps: ProviderDeps): Map<string, ChatProvider> {
  const providers = new Map<string, ChatProvider>();
  for (const model of models) {
    // Config is validated by schema, but a hand-built ModelConfig (tests, library use) may not be.
    const factory: ProviderFactory | undefined = Object.hasOwn(providerFactories, model.provider)
      ? providerFactories[model.provider]
      : undefined;
    if (!factory) {
      const valid = Object.keys(providerFactories).join(', ');
      throw new ConfigError(`model "${model.id}": unknown provider "${String(model.provider)}" (valid: ${valid})`, 'unknown_provider');
    }
    if (providers.has(model.id)) throw new ConfigError(`duplicate model id "${model.id}"`);
    providers.set(model.id, factory(model, deps));
  }
  return providers;
}
