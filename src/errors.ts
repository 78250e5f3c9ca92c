// Typed errors: modules throw these with a stable `code`; the HTTP layer's single error middleware
// (src/http/error-handler.ts) and the CLI turn them into responses and messages.

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'server_error';

export interface SwitchyardErrorOptions {
  code: string;
  httpStatus: number;
  type?: ErrorType;
  param?: string | null;
  cause?: unknown;
  /** What an HTTP client is told, when `message` holds what only the operator should see (a file path). */
  publicMessage?: string;
}

export class SwitchyardError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly publicMessage: string;

  constructor(message: string, options: SwitchyardErrorOptions) {
    super(message, { cause: options.cause });
    this.publicMessage = options.publicMessage ?? message;
    this.name = new.target.name;
    this.code = options.code;
    this.httpStatus = options.httpStatus;
    this.type = options.type ?? (options.httpStatus >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = options.param ?? null;
  }
}

/** The request (or a file a user gave us) is malformed. */
export class InvalidInputError extends SwitchyardError {
  constructor(message: string, param: string | null = null, code = 'invalid_request', cause?: unknown) {
    super(message, { code, httpStatus: 400, type: 'invalid_request_error', param, cause });
  }
}

export class NotFoundError extends SwitchyardError {
  constructor(message: string, code = 'not_found', param: string | null = null) {
    super(message, { code, httpStatus: 404, type: 'not_found_error', param });
  }
}

/** No API key, or one that is unknown or revoked. */
export class AuthenticationError extends SwitchyardError {
  constructor(message: string, code = 'invalid_api_key') {
    super(message, { code, httpStatus: 401, type: 'authentication_error' });
  }
}

/** A valid API key asking for something its scope does not cover. */
export class PermissionError extends SwitchyardError {
  constructor(message: string, code = 'insufficient_permissions') {
    super(message, { code, httpStatus: 403, type: 'permission_error' });
  }
}

/** The request is valid but conflicts with the state of what it names. */
export class ConflictError extends SwitchyardError {
  constructor(message: string, code = 'conflict', param: string | null = null) {
    super(message, { code, httpStatus: 409, type: 'invalid_request_error', param });
  }
}

/** Configuration or on-disk artefacts (config file, classifier, embedder) are unusable. */
export class ConfigError extends SwitchyardError {
  constructor(message: string, code = 'config_error', cause?: unknown) {
    super(message, { code, httpStatus: 500, type: 'server_error', cause });
  }
}

/** A model artefact does not match what the running process expects (e.g. wrong embedder). */
export class ModelMismatchError extends SwitchyardError {
  constructor(message: string) {
    super(message, { code: 'model_mismatch', httpStatus: 500, type: 'server_error' });
  }
}

export function errorMessage(err: unknown): string {
  // Not `instanceof Error`: errors made in another realm (a native addon's, a vm context's) fail that test.
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}
