// The console's only way to the platform: the same /api/v1 routes the SDK uses, with the user's
// API key as `Authorization: Bearer` on every call. The key lives in this tab's sessionStorage
// (never the persistent local storage, never a URL); no cookie is sent, so a cross-site form
// cannot act.

const KEY = "raylane.apiKey";

export function getKey(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}
export function clearKey(): void {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    detail: string,
  ) {
    super(detail);
  }
  get notFound(): boolean {
    return this.status === 404;
  }
}

function describe(detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => (d && typeof d === "object" && "msg" in d ? String((d as { msg: unknown }).msg) : JSON.stringify(d)))
      .join("; ");
  }
  return JSON.stringify(detail);
}

async function failure(res: Response): Promise<ApiError> {
  let code = "http_" + res.status;
  let detail = res.statusText || "request failed";
  try {
    const body = await res.json();
    code = body.error ?? code;
    detail = describe(body.detail ?? detail);
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, detail);
}

function headers(extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { Accept: "application/json", ...(extra ?? {}) };
  const key = getKey();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

export let onUnauthorized: () => void = () => {};
export function setOnUnauthorized(f: () => void): void {
  onUnauthorized = f;
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: headers(), credentials: "omit", cache: "no-store" };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    const err = await failure(res);
    onUnauthorized();
    throw err;
  }
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T>(path: string) => request<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {});
export const put = <T>(path: string, body?: unknown) => request<T>("PUT", path, body ?? {});
export const del = <T>(path: string) => request<T>("DELETE", path);

export function qs(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? "?" + s : "";
}

export interface SSEEvent {
  event: string;
  data: string;
}

/** Incremental Server-Sent Events decoder (the format raylane/client/_sse.py reads). */
export class SSEDecoder {
  private buffer = "";
  private event = "";
  private data: string[] = [];

  feed(text: string): SSEEvent[] {
    this.buffer += text;
    const out: SSEEvent[] = [];
    for (;;) {
      const m = /\r\n|\n|\r/.exec(this.buffer);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (m[0] === "\r" && m.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      if (line === "") {
        if (this.data.length) out.push({ event: this.event || "message", data: this.data.join("\n") });
        this.event = "";
        this.data = [];
      } else if (!line.startsWith(":")) {
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let value = i < 0 ? "" : line.slice(i + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") this.event = value;
        else if (field === "data") this.data.push(value);
      }
    }
    return out;
  }
}

/** POST that answers with an event stream: fetch + a ReadableStream reader (EventSource is GET-only). */
export async function stream(
  path: string,
  body: unknown,
  onEvent: (type: string, data: Record<string, unknown>) => void,
  signal?: AbortSignal,
): Promise<void> {
  const res = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    credentials: "omit",
    signal,
  });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const sse = new SSEDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (const e of sse.feed(decoder.decode(value, { stream: true }))) {
      let data: Record<string, unknown> = {};
      try {
        data = JSON.parse(e.data);
      } catch {
        data = { text: e.data };
      }
      onEvent(e.event, data);
    }
  }
}

// Wire shapes (the subset the console reads; raylane/schemas/ is the source of truth).
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}
export interface Me {
  user_id: string;
  email: string;
  name: string;
  organization: { id: string; name: string; slug: string };
  role: string;
  permissions: string[];
  api_key_id: string | null;
  is_platform_admin: boolean;
  ray_dashboard_url?: string | null;
}
export interface Project {
  id: string;
  name: string;
  description: string | null;
  created_at: string;
}
export interface Collection {
  id: string;
  project_id: string;
  name: string;
  embedding_model: string;
  dimensions: number;
  created_at: string;
}
export interface Doc {
  id: string;
  collection_id: string;
  name: string;
  size: number;
  mime: string;
  status: string;
  chunk_count: number;
  error: string | null;
  created_at: string;
}
export interface Run {
  id: string;
  project_id: string | null;
  kind: string;
  target_id: string | null;
  status: string;
  attempts: number;
  max_attempts: number;
  ray_job_id: string | null;
  progress: Record<string, unknown>;
  result: Record<string, unknown>;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}
export interface RunLogs {
  logs: string;
  status: string | null;
  next_offset: number;
}
export interface SearchHit {
  chunk_id: string;
  document_id: string;
  document_name: string;
  chunk_index: number;
  text: string;
  score: number;
}
export interface Citation {
  index: number;
  document_id: string;
  document_name: string;
  chunk_id: string;
  chunk_index: number;
  score: number;
}
export interface Message {
  id: string;
  role: string;
  content: string;
  citations: Citation[];
}
export interface Conversation {
  id: string;
  project_id: string;
  title: string;
  created_at: string;
  messages: Message[];
}
export interface AuditEvent {
  id: string;
  seq: number;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  summary: Record<string, unknown>;
  created_at: string;
}
export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  user_id: string;
  scopes: string[];
  expires_at: string | null;
  revoked_at: string | null;
  created_at: string;
  secret?: string;
}
export interface User {
  id: string;
  email: string;
  name: string;
  role: string;
  is_active: boolean;
}
export interface Flag {
  key: string;
  enabled: boolean;
  value: unknown;
  description: string | null;
  updated_at: string;
}
