// The one place errors become HTTP responses, always in OpenAI's shape
// {error: {message, type, param, code}} and never with a stack trace.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { SwitchyardError } from '../errors';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(message: string, type: string, code: string | null, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

export function toErrorResponse(err: unknown): { status: number; body: OpenAIErrorBody; headers?: Record<string, string> } {
  if (err instanceof SwitchyardError) {
    const headers = (err as { headers?: Record<string, string> }).headers;
    return { status: err.httpStatus, body: errorBody(err.publicMessage, err.type, err.code, err.param), headers };
  }
  const e = (err ?? {}) as BodyParserError;
  if (e.type === 'entity.too.large') {
    return { status: 413, body: errorBody(`request body is larger than the limit of ${e.limit} bytes`, 'invalid_request_error', 'request_too_large') };
  }
  if (e.type === 'entity.parse.failed') {
    return { status: 400, body: errorBody('request body is not valid JSON', 'invalid_request_error', 'invalid_json') };
  }
  if (e.type === 'charset.unsupported') {
    return { status: 415, body: errorBody(`${(err as Error).message}: send JSON as UTF-8`, 'invalid_request_error', 'unsupported_charset') };
  }
  if (e.type === 'request.aborted') {
    return { status: 400, body: errorBody('the client closed the connection before sending the whole body', 'invalid_request_error', 'request_aborted') };
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return { status: e.status, body: errorBody((err as Error).message ?? 'bad request', 'invalid_request_error', e.type ?? 'bad_request') };
  }
  return { status: 500, body: errorBody('internal server error', 'server_error', 'internal_error') };
}

/**
 * `onUnexpected` hears of every error the handler does not know (a 500 with a stack worth reading);
 * `onServiceError` of the known ones that still answer 5xx (the store busy, every upstream failed),
 * which the operator should see in the log even though the client got a clear answer.
 */
export function errorHandler(onUnexpected: (err: unknown) => void, onServiceError: (err: SwitchyardError) => void = () => {}): ErrorRequestHandler {
  return (err, _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const { status, body, headers } = toErrorResponse(err);
    if (status >= 500) {
      if (err instanceof SwitchyardError) onServiceError(err);
      else onUnexpected(err);
    }
    if (headers) res.set(headers);
    res.status(status).json(body);
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json(errorBody(`no route for ${req.method} ${req.path}`, 'invalid_request_error', 'unknown_url'));
};
