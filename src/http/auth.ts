// Client authentication: `Authorization: Bearer <key>` checked against the key store on every request.
// While no key exists the server runs open (and binds to 127.0.0.1 only, see src/cli/serve.ts); once
// auth has been required it stays required, so revoking the last key locks the server instead of opening it.
import type { RequestHandler, Response } from 'express';
import { AuthenticationError, PermissionError } from '../errors';
import type { ApiKeyInfo } from '../store/api-key-store';

export interface AuthDeps {
  verify(key: string): ApiKeyInfo | null;
  /** Whether requests must carry a key now. */
  required(): boolean;
}

/** Who is calling: a key, or nobody when the server runs without keys (then everything is allowed). */
export interface Principal {
  key: ApiKeyInfo | null;
  admin: boolean;
}

const OPEN: Principal = { key: null, admin: true };
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Names that reach this machine only. */
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The host name of a Host header (without its port), lower-cased. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

export function authenticate(deps: AuthDeps): RequestHandler {
  return (req, res, next) => {
    if (!deps.required()) {
      // Open access rests on listening on 127.0.0.1 alone, which a web page can reach through DNS
      // rebinding (its own name resolving to 127.0.0.1): it could then read every logged prompt and spend
      // upstream credit. Such a request names another host, so only local names are served.
      const host = req.get('host');
      if (host !== undefined && !LOCAL_HOSTS.has(hostName(host))) {
        throw new PermissionError(
          `without API keys only requests addressed to this machine (Host: localhost, 127.0.0.1 or [::1]) are served, not "${host.slice(0, 100)}"; create a key with \`switchyard keys create\` to serve other names`,
        );
      }
      res.locals.principal = OPEN;
      next();
      return;
    }
    const header = req.get('authorization');
    if (!header) throw new AuthenticationError('this server needs an API key: send "Authorization: Bearer <key>" (create one with `switchyard keys create`)', 'missing_api_key');
    const match = BEARER.exec(header);
    const key = match ? deps.verify(match[1]) : null;
    // One message for malformed, unknown and revoked keys: which of them it was is no business of the caller.
    if (!key) throw new AuthenticationError('invalid or revoked API key', 'invalid_api_key');
    const principal: Principal = { key, admin: key.admin };
    res.locals.principal = principal;
    next();
  };
}

export function principalOf(res: Response): Principal {
  // Set by `authenticate`, which runs before every route that calls this.
  return res.locals.principal as Principal;
}

export function requireAdmin(principal: Principal, what: string): void {
  if (!principal.admin) throw new PermissionError(`${what} needs an admin key (this key, "${principal.key?.name}", is not one)`);
}

/** Admins may act on any decision; other keys only on decisions their own requests made. */
export function requireOwnerOrAdmin(principal: Principal, ownerKeyId: string | null, what: string): void {
  if (principal.admin || (principal.key !== null && principal.key.id === ownerKeyId)) return;
  throw new PermissionError(`${what} of another key's decision needs an admin key`);
}
