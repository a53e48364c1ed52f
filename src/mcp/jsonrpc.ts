/**
 * JSON-RPC 2.0 message shapes as MCP uses them, and the few guards the gateway
 * needs to tell them apart. Deliberately structural: no schema library on the
 * hot path.
 */

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcResultResponse {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: Record<string, unknown>;
}

export interface JsonRpcErrorResponse {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcResultResponse | JsonRpcErrorResponse;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** What a backend answers for one request: a result or a JSON-RPC error (never both). */
export type RpcOutcome = { result: Record<string, unknown> } | { error: JsonRpcErrorObject };

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isRequest(msg: unknown): msg is JsonRpcRequest {
  return isObject(msg) && typeof msg.method === 'string' && 'id' in msg && isValidId(msg.id);
}

export function isNotification(msg: unknown): msg is JsonRpcNotification {
  return isObject(msg) && typeof msg.method === 'string' && !('id' in msg);
}

export function isResponse(msg: unknown): msg is JsonRpcResponse {
  return isObject(msg) && !('method' in msg) && 'id' in msg && ('result' in msg || 'error' in msg);
}

export function isValidId(id: unknown): id is JsonRpcId {
  return (typeof id === 'string' && id.length <= 256) || (typeof id === 'number' && Number.isFinite(id));
}
