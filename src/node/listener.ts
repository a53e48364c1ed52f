/**
 * The node's one HTTP listener. MCP endpoints go straight to the gateway,
 * which writes its own response (the hot path skips Koa's context, routing
 * tables and body parsing); `/oauth…` is the embedded authorization server's;
 * everything else is the Koa app's.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Gateway } from '../gateway/gateway.js';
import { matchMcpPath } from '../gateway/routing/endpoint.js';
import type { AuthorizationServer } from '../auth/oauth/authorization-server/index.js';

export function nodeListener(gateway: Gateway, app: RequestListener, oauth?: Pick<AuthorizationServer, 'owns' | 'handle'>): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (!url.startsWith('/mcp')) {
      if (oauth) {
        const q = url.indexOf('?');
        if (oauth.owns(q < 0 ? url : url.slice(0, q))) return oauth.handle(req, res);
      }
      return app(req, res);
    }
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const endpoint = matchMcpPath(path);
    if (endpoint === undefined) return app(req, res);
    // Both answer every failure themselves; a throw here means the socket is unusable.
    if (endpoint === null) gateway.refuseUnknownPath(req, res, path).catch(() => res.destroy());
    else gateway.handle(req, res, endpoint).catch(() => res.destroy());
  };
}
