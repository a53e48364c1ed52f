/**
 * The few HTML pages the authorization server shows people: the login form
 * and an error page. Every interpolated value is HTML-escaped (client names
 * come from open registration and are attacker-controlled); pages carry a
 * CSP without scripts and refuse framing (clickjacking).
 */
import type { ServerResponse } from 'node:http';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}.muted{color:#666;font-size:.9rem}`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(
    title,
  )}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  });
  res.end(html);
}

export interface LoginPage {
  /** Where the form posts: the interaction URL (its uid binds the form to the interaction cookie). */
  action: string;
  abortUrl: string;
  clientName: string;
  scopes: string[];
  username?: string;
  error?: string;
}

export function loginPage(p: LoginPage): string {
  const scopes = p.scopes.length
    ? `<p class="muted">Requested access: ${p.scopes.map((s) => `<code>${escapeHtml(s)}</code>`).join(', ')}</p>`
    : '';
  return page(
    'Sign in — Toolmesh',
    `<h1>Sign in to Toolmesh</h1>
<p><strong>${escapeHtml(p.clientName)}</strong> wants to use MCP tools on your behalf.</p>${scopes}
${p.error ? `<p class="error" role="alert">${escapeHtml(p.error)}</p>` : ''}
<form method="post" action="${escapeHtml(p.action)}" autocomplete="on">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required autofocus value="${escapeHtml(p.username ?? '')}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="muted"><a href="${escapeHtml(p.abortUrl)}">Cancel</a></p>`,
  );
}

export function errorPage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}
