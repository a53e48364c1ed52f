/**
 * DNS-rebinding defences for the MCP endpoints (MCP transport security
 * guidance): browsers' `Origin` must be one we trust, and a loopback listener
 * only answers requests addressed to a loopback host name.
 */

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  const colon = hostHeader.lastIndexOf(':');
  return (colon >= 0 ? hostHeader.slice(0, colon) : hostHeader).toLowerCase();
}

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function originPolicy(options: { listenHost: string; publicUrl: () => string; allowedOrigins: string[] }) {
  const loopbackListener = isLoopbackHost(options.listenHost);
  // The public URL is known only once the listener is bound; parse it once, then reuse.
  let parsedFor = '';
  let publicOrigin = '';
  let publicHost = '';
  const refresh = () => {
    const current = options.publicUrl();
    if (current !== parsedFor && current) {
      const url = new URL(current);
      parsedFor = current;
      publicOrigin = url.origin;
      publicHost = url.hostname;
    }
  };
  const configured = new Set(options.allowedOrigins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return {
    isAllowedOrigin(origin: string): boolean {
      const normalised = origin.toLowerCase();
      if (configured.has(normalised)) return true;
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        return false;
      }
      refresh();
      if (url.origin === publicOrigin) return true;
      return loopbackListener && isLoopbackHost(url.hostname);
    },
    isAllowedHost(hostHeader: string | undefined): boolean {
      if (!loopbackListener) return true;
      if (hostHeader === undefined) return false;
      const host = hostnameOf(hostHeader);
      if (isLoopbackHost(host)) return true;
      refresh();
      return host === publicHost;
    },
  };
}
