import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { type ApiKey, del, type Flag, get, type Page, post, put, request, type User } from "../api";
import type { Ctx } from "../main";
import { Async, Empty, ErrorBox, Link, PageHead, Status, useLoad, when } from "../ui";

const TABS: { id: string; label: string; needs?: string }[] = [
  { id: "keys", label: "API keys", needs: "apikey:self" },
  { id: "members", label: "Members", needs: "user:read" },
  { id: "guardrails", label: "Guardrails", needs: "guardrail:read" },
  { id: "flags", label: "Feature flags", needs: "flag:read" },
];

export function SettingsPage(props: { ctx: Ctx; tab: string }): JSX.Element {
  const { ctx } = props;
  const tabs = TABS.filter((t) => !t.needs || ctx.can(t.needs));
  const tab = tabs.find((t) => t.id === props.tab) ?? tabs[0];
  return (
    <section>
      <PageHead title="Settings" />
      <nav class="tabs" aria-label="Settings sections">
        {tabs.map((t) => (
          <Link key={t.id} to={"/settings/" + t.id} class={t.id === tab?.id ? "active" : undefined}>
            {t.label}
          </Link>
        ))}
      </nav>
      {!tab && <Empty>Nothing to configure with this key.</Empty>}
      {tab?.id === "keys" && <Keys ctx={ctx} />}
      {tab?.id === "members" && <Members ctx={ctx} />}
      {tab?.id === "guardrails" && <Guardrails ctx={ctx} />}
      {tab?.id === "flags" && <Flags ctx={ctx} />}
    </section>
  );
}

function Keys(props: { ctx: Ctx }): JSX.Element {
  const keys = useLoad(() => get<Page<ApiKey>>("/api/v1/api-keys?limit=100"), []);
  const [name, setName] = useState("");
  const [created, setCreated] = useState<ApiKey | null>(null);
  const [error, setError] = useState<Error | undefined>();
  const create = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      setCreated(await post<ApiKey>("/api/v1/api-keys", { name }));
      setName("");
      keys.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const [confirming, setConfirming] = useState<string | null>(null);
  const revoke = async (k: ApiKey) => {
    // Two steps, not window.confirm: the second click is the confirmation.
    if (confirming !== k.id) return setConfirming(k.id);
    setConfirming(null);
    try {
      await del(`/api/v1/api-keys/${k.id}`);
      keys.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <h2>Your API keys</h2>
      <form class="row" onSubmit={create} aria-label="New API key">
        <label for="key-name">Key name</label>
        <input id="key-name" required maxLength={200} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        <button type="submit" data-testid="create-key">
          Create key
        </button>
      </form>
      {created?.secret && (
        <div class="panel secret" role="status" data-testid="secret">
          <p>
            <strong>Copy this key now: it is shown only once.</strong>
          </p>
          <code class="select-all">{created.secret}</code>
          <button type="button" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      <ErrorBox error={error} />
      <Async state={keys} what="API keys">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No keys.</Empty>
          ) : (
            <table data-testid="keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((k) => (
                  <tr key={k.id} data-key-name={k.name}>
                    <td>{k.name}</td>
                    <td>
                      <code>{k.prefix}</code>
                    </td>
                    <td>{when(k.created_at)}</td>
                    <td>{when(k.expires_at)}</td>
                    <td>{k.revoked_at ? <Status value="revoked" /> : k.id === props.ctx.me.api_key_id ? "this session" : <Status value="active" />}</td>
                    <td>
                      {!k.revoked_at && k.id !== props.ctx.me.api_key_id && (
                        <button type="button" class="danger" onClick={() => revoke(k)}>
                          {confirming === k.id ? "Confirm revoke" : "Revoke"}
                          <span class="visually-hidden"> {k.name}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
    </>
  );
}

const ROLES = ["viewer", "developer", "admin", "owner"];

function Members(props: { ctx: Ctx }): JSX.Element {
  const users = useLoad(() => get<Page<User>>("/api/v1/users?limit=100"), []);
  const write = props.ctx.can("user:write");
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("developer");
  const [error, setError] = useState<Error | undefined>();
  const act = async (f: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await f();
      users.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <h2>Members and roles</h2>
      {write && (
        <form
          class="row"
          aria-label="Add a member"
          onSubmit={(e) => {
            e.preventDefault();
            act(() => post("/api/v1/users", { email, role })).then(() => setEmail(""));
          }}
        >
          <label for="member-email">Email</label>
          <input id="member-email" type="email" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
          <label for="member-role">Role</label>
          <select id="member-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
          <button type="submit">Add member</button>
        </form>
      )}
      <ErrorBox error={error} />
      <Async state={users} what="members">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No members.</Empty>
          ) : (
            <table data-testid="members">
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Active</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((u) => (
                  <tr key={u.id}>
                    <td>{u.email}</td>
                    <td>{u.name}</td>
                    <td>
                      {write && u.id !== props.ctx.me.user_id ? (
                        <select
                          aria-label={`Role of ${u.email}`}
                          value={u.role}
                          onChange={(e) => act(() => request("PATCH", `/api/v1/users/${u.id}`, { role: (e.target as HTMLSelectElement).value }))}
                        >
                          {ROLES.map((r) => (
                            <option key={r}>{r}</option>
                          ))}
                        </select>
                      ) : (
                        u.role
                      )}
                    </td>
                    <td>{u.is_active ? "yes" : "no"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
    </>
  );
}

interface CheckResult {
  verdict: string;
  text: string;
  blocked: boolean;
  findings: { detector: string; action: string; label: string }[];
}

function Guardrails(props: { ctx: Ctx }): JSX.Element {
  const write = props.ctx.can("guardrail:write");
  const [draft, setDraft] = useState<string | null>(null);
  const policy = useLoad(async () => {
    const p = await get<{ stored: boolean; policy: Record<string, unknown> }>("/api/v1/guardrails/policy");
    setDraft(JSON.stringify(p.policy, null, 2));
    return p;
  }, []);
  const [saved, setSaved] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const [text, setText] = useState("");
  const [result, setResult] = useState<CheckResult | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setSaved(false);
    try {
      await put("/api/v1/guardrails/policy", JSON.parse(draft ?? "{}"));
      setSaved(true);
      policy.reload();
    } catch (err) {
      setError(err instanceof SyntaxError ? new Error("The policy is not valid JSON: " + err.message) : (err as Error));
    }
  };
  const check = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      setResult(await post<CheckResult>("/api/v1/guardrails/check", { text }));
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <h2>Guardrail policy</h2>
      <Async state={policy} what="the policy">
        {(p) => (
          <form onSubmit={save} aria-label="Guardrail policy">
            <label for="policy">
              The organization's policy (JSON; only the fields it sets{p.stored ? "" : " — none stored, the defaults apply"})
            </label>
            <textarea id="policy" rows={10} class="mono" readOnly={!write} value={draft ?? ""} onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)} />
            {write && <button type="submit">Save policy</button>}
            {saved && <p role="status">Saved.</p>}
          </form>
        )}
      </Async>
      <ErrorBox error={error} />
      <Effective key={String(saved)} />
      <h2>Check this text</h2>
      <form onSubmit={check} aria-label="Check a text">
        <label for="check-text">Text to test against the effective policy</label>
        <textarea id="check-text" rows={4} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
        <button type="submit" disabled={!text}>
          Check
        </button>
      </form>
      {result && (
        <div class="panel" data-testid="check-result" aria-live="polite">
          <p>
            Verdict: <Status value={result.verdict} />
          </p>
          {result.findings.length === 0 ? (
            <p>No findings.</p>
          ) : (
            <ul>
              {result.findings.map((f, i) => (
                <li key={i}>
                  {f.detector} {f.label && `(${f.label})`}: {f.action}
                </li>
              ))}
            </ul>
          )}
          <p class="small">As the model would see it:</p>
          <p class="passage">{result.text}</p>
        </div>
      )}
    </>
  );
}

function Flags(props: { ctx: Ctx }): JSX.Element {
  const write = props.ctx.can("flag:write");
  const flags = useLoad(() => get<Page<Flag>>("/api/v1/feature-flags?limit=100"), []);
  const [key, setKey] = useState("");
  const [error, setError] = useState<Error | undefined>();
  const act = async (f: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await f();
      flags.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <h2>Feature flags</h2>
      {write && (
        <form
          class="row"
          aria-label="New flag"
          onSubmit={(e) => {
            e.preventDefault();
            act(() => put(`/api/v1/feature-flags/${encodeURIComponent(key)}`, { enabled: true })).then(() => setKey(""));
          }}
        >
          <label for="flag-key">Flag key</label>
          <input id="flag-key" required pattern="[a-z0-9][a-z0-9_.\-]{0,99}" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
          <button type="submit">Add flag</button>
        </form>
      )}
      <ErrorBox error={error} />
      <Async state={flags} what="feature flags">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No feature flags set.</Empty>
          ) : (
            <table data-testid="flags">
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Enabled</th>
                  <th scope="col">Description</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((f) => (
                  <tr key={f.key}>
                    <td>
                      <code>{f.key}</code>
                    </td>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`${f.key} enabled`}
                        checked={f.enabled}
                        disabled={!write}
                        onChange={(e) =>
                          act(() =>
                            put(`/api/v1/feature-flags/${encodeURIComponent(f.key)}`, {
                              enabled: (e.target as HTMLInputElement).checked,
                              value: f.value,
                              description: f.description,
                            }),
                          )
                        }
                      />
                    </td>
                    <td>{f.description ?? ""}</td>
                    <td>{when(f.updated_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
    </>
  );
}

/** What applies once defaults are filled in: every detector's action and stages. */
function Effective(): JSX.Element {
  const state = useLoad(() => get<{ policy: Record<string, unknown> }>("/api/v1/guardrails/effective"), []);
  return (
    <details class="panel">
      <summary>Effective policy (defaults filled in)</summary>
      <Async state={state} what="the effective policy">
        {(e) => <pre class="logs">{JSON.stringify(e.policy, null, 2)}</pre>}
      </Async>
    </details>
  );
}
