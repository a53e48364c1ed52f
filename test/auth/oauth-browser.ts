/**
 * A minimal "browser" for driving the authorization server's pages in tests:
 * a cookie jar honouring Path and expiry, redirects followed by hand (so a test
 * sees every hop and stops at the client's redirect_uri), and form posts.
 */

interface Cookie {
  name: string;
  value: string;
  path: string;
  expires: number | undefined;
}

export interface Hop {
  url: string;
  status: number;
  location: string | undefined;
}

export interface Landing {
  /** The last response that was not a redirect into the server's own origin. */
  response: Response;
  url: string;
  body: string;
  /** Set when the chain ended at a redirect out of the server's origin (the client's redirect_uri). */
  redirectedTo: URL | undefined;
  hops: Hop[];
}

export class TestBrowser {
  readonly #jar = new Map<string, Cookie>();

  /** Requests with this browser's cookies, without following redirects. */
  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.#cookieHeader(target.pathname);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(target, { ...init, headers, redirect: 'manual' });
    this.#store(res, target.pathname);
    return res;
  }

  /** Navigates to `url` (GET, or the given request) and follows redirects within the same origin. */
  async navigate(url: string, init: RequestInit = {}, maxHops = 10): Promise<Landing> {
    const origin = new URL(url).origin;
    const hops: Hop[] = [];
    let current = url;
    let res = await this.request(current, init);
    for (;;) {
      const location = res.headers.get('location') ?? undefined;
      hops.push({ url: current, status: res.status, location });
      if (res.status < 300 || res.status >= 400 || !location) break;
      const next = new URL(location, current);
      if (next.origin !== origin) {
        await res.text();
        return { response: res, url: current, body: '', redirectedTo: next, hops };
      }
      if (hops.length >= maxHops) throw new Error(`too many redirects: ${hops.map((h) => h.url).join(' → ')}`);
      await res.text();
      current = next.href;
      res = await this.request(current);
    }
    return { response: res, url: current, body: await res.text(), redirectedTo: undefined, hops };
  }

  /** Submits a form (urlencoded) and follows the redirects. */
  submit(action: string, fields: Record<string, string>, extraHeaders: Record<string, string> = {}): Promise<Landing> {
    return this.navigate(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...extraHeaders },
      body: new URLSearchParams(fields).toString(),
    });
  }

  cookieNames(): string[] {
    return [...this.#jar.values()].map((c) => c.name);
  }

  #cookieHeader(path: string): string {
    const now = Date.now();
    const out: string[] = [];
    for (const [key, c] of this.#jar) {
      if (c.expires !== undefined && c.expires <= now) {
        this.#jar.delete(key);
        continue;
      }
      if (path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/') out.push(`${c.name}=${c.value}`);
    }
    return out.join('; ');
  }

  #store(res: Response, requestPath: string): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      let path = requestPath.slice(0, requestPath.lastIndexOf('/')) || '/';
      let expires: number | undefined;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k!.toLowerCase();
        if (key === 'path') path = v;
        else if (key === 'expires') expires = Date.parse(v);
        else if (key === 'max-age') expires = Date.now() + Number(v) * 1000;
      }
      const id = `${name};${path}`;
      if (expires !== undefined && expires <= Date.now()) this.#jar.delete(id);
      else this.#jar.set(id, { name, value, path, expires });
    }
  }
}

/** The form's action and the page, from the login page HTML. */
export function loginForm(html: string, base: string): { action: string } | undefined {
  const m = /<form method="post" action="([^"]+)"/.exec(html);
  if (!m) return undefined;
  return { action: new URL(m[1]!.replace(/&amp;/g, '&'), base).href };
}
