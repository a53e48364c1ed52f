/**
 * The catalog as one self-contained HTML page (no scripts, inline styles),
 * every value HTML-escaped: tool descriptions come from third parties.
 */
import type { CatalogEntry } from './catalog-routes.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export function renderCatalogPage(entries: CatalogEntry[], publicUrl: string): string {
  const rows = entries
    .map((e) => {
      const tools = e.tools
        .map((t) => `<li><code>${escapeHtml(t.name)}</code> <span class="tag ${t.access}">${t.access}</span>${t.withheld ? ' <span class="tag withheld">withheld: changed since approval</span>' : ''}<br><small>${escapeHtml(t.description)}</small></li>`)
        .join('');
      const life = e.sunset ? 'sunset' : e.lifecycle;
      return `<tr>
<td><strong>${escapeHtml(e.title ?? e.slug)}</strong><br><code>${escapeHtml(e.slug)}@${escapeHtml(e.version)}</code><br><small>${escapeHtml(e.description)}</small></td>
<td><span class="tag ${escapeHtml(life)}">${escapeHtml(life)}</span>${e.sunsetAt ? `<br><small>sunset ${escapeHtml(e.sunsetAt)}</small>` : ''}${e.migrationUrl ? `<br><small>migrate: ${escapeHtml(e.migrationUrl)}</small>` : ''}</td>
<td>${escapeHtml(e.owner ?? '—')}<br><small>approved by ${escapeHtml(e.approvedBy)}<br>${escapeHtml(e.approvedAt)}</small></td>
<td>${escapeHtml(e.transport)}<br><code>${escapeHtml(e.endpoint)}</code></td>
<td><ul>${tools}</ul></td>
</tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Toolmesh catalog</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1b1f24}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d0d7de;padding:.5rem;vertical-align:top;text-align:left}
code{font-size:12px}ul{margin:0;padding-left:1rem}.tag{border-radius:4px;padding:0 .3rem;font-size:12px;background:#eaeef2}
.read{background:#dafbe1}.write{background:#fff8c5}.deprecated{background:#ffebe9}.sunset,.withheld{background:#ffcecb}
.alpha,.beta{background:#ddf4ff}
</style></head><body>
<h1>Toolmesh catalog</h1>
<p>${entries.length} server version(s) on <code>${escapeHtml(publicUrl)}</code>. Aggregate endpoint: <code>${escapeHtml(publicUrl)}/mcp</code>. JSON: <a href="/catalog/v1/servers">/catalog/v1/servers</a>, Registry API: <a href="/v0.1/servers">/v0.1/servers</a>.</p>
<table><thead><tr><th>Server</th><th>Lifecycle</th><th>Owner / approval</th><th>Endpoint</th><th>Tools</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="5">No servers registered yet: <code>toolmesh server add</code>.</td></tr>'}
</tbody></table></body></html>
`;
}
