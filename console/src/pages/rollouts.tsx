// Endpoints and their canary rollouts: the split, per-version metrics, and a rollout's steps live.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get, post, type Page, type Project } from "../api";
import { BarChart } from "../charts";
import type { Ctx } from "../main";
import { Async, Empty, ErrorBox, Link, PageHead, Status, useLoad, when } from "../ui";

// Wire shapes (raylane/schemas/endpoints.py and rollouts.py are the source of truth).
interface Endpoint {
  id: string;
  project_id: string;
  name: string;
  kind: string;
  subject: string;
  stable_label: string;
  canary_label: string | null;
  canary_weight: number;
  sticky_header: string | null;
  created_at: string;
  updated_at: string;
}
interface VersionWindow {
  version: string;
  requests: number;
  errors: number;
  blocked: number;
  tokens: number;
  error_rate: number;
  block_rate: number;
  p95_ms: number | null;
}
interface Metrics {
  since: string;
  until: string;
  stable: VersionWindow;
  canary: VersionWindow | null;
}
interface RolloutEvent {
  event: string;
  at: string;
  step: number;
  weight: number | null;
  verdict: "pass" | "fail" | "inconclusive" | null;
  reasons: string[];
  figures: Record<string, unknown>;
  actor: string | null;
}
interface Rollout {
  id: string;
  endpoint_id: string;
  project_id: string;
  status: string;
  canary_label: string;
  stable_label: string;
  policy: { steps: number[]; interval_s: number; max_failed_analyses: number; suite: { name: string; min_score: number } | null };
  step: number;
  steps: number;
  weight: number;
  step_started_at: string | null;
  failed_analyses: number;
  test_run_id: string | null;
  history: RolloutEvent[];
  reason: string | null;
  created_at: string;
  finished_at: string | null;
}

interface ConfigSummary {
  id: string;
  name: string;
}
interface ConfigVersion {
  version: number;
  digest: string;
  spec: {
    system_prompt?: string;
    answer_mode?: string;
    top_k?: number;
    max_tokens?: number;
    guardrail_policy?: Record<string, unknown>;
    llm?: { backend: string; base_url?: string; model?: string; api_key_set?: boolean };
  };
}

const LIVE = new Set(["running", "paused"]);
const POLL_MS = 2000;

export function RolloutsPage(props: { ctx: Ctx }): JSX.Element {
  void props;
  const projects = useLoad(() => get<Page<Project>>("/api/v1/projects?limit=100"), []);
  return (
    <section>
      <PageHead title="Rollouts" />
      <Async state={projects} what="projects">
        {(page) => (page.items.length === 0 ? <Empty>No projects yet: endpoints live in a project.</Empty> : <Endpoints projects={page.items} />)}
      </Async>
    </section>
  );
}

function Endpoints(props: { projects: Project[] }): JSX.Element {
  const [projectId, setProjectId] = useState(props.projects[0].id);
  const state = useLoad(() => get<Page<Endpoint>>(`/api/v1/projects/${projectId}/endpoints?limit=100`), [projectId]);
  return (
    <>
      <label>
        Project{" "}
        <select value={projectId} onChange={(e) => setProjectId((e.target as HTMLSelectElement).value)}>
          {props.projects.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <h2>Endpoints</h2>
      <Async state={state} what="endpoints">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No endpoints in this project. Create one with the SDK or `POST /api/v1/projects/…/endpoints`.</Empty>
          ) : (
            <table data-testid="endpoints">
              <thead>
                <tr>
                  <th scope="col">Endpoint</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Subject</th>
                  <th scope="col">Stable</th>
                  <th scope="col">Canary</th>
                  <th scope="col">Canary weight</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((x) => (
                  <tr key={x.id}>
                    <td>
                      <Link to={"/rollouts/endpoints/" + x.id}>{x.name}</Link>
                    </td>
                    <td>{x.kind}</td>
                    <td>{x.subject}</td>
                    <td>v{x.stable_label}</td>
                    <td>{x.canary_label ? "v" + x.canary_label : "—"}</td>
                    <td>{x.canary_label ? x.canary_weight + "%" : "—"}</td>
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

/** The traffic split as one bar: the stable share, then the canary's. */
function SplitBar(props: { stable: string; canary: string | null; weight: number }): JSX.Element {
  const w = props.canary ? props.weight : 0;
  const W = 560;
  const cut = (W * (100 - w)) / 100;
  const label = `Traffic split: stable v${props.stable} ${100 - w}%` + (props.canary ? `, canary v${props.canary} ${w}%` : "");
  return (
    <figure class="chart" data-testid="split" data-weight={w}>
      <figcaption>{label}</figcaption>
      <svg viewBox={`0 0 ${W} 28`} role="img" aria-label={label}>
        <title>{label}</title>
        <g class="series c1">
          <rect x={0} y={2} width={cut} height={24} />
        </g>
        {w > 0 && (
          <g class="series c2">
            <rect x={cut} y={2} width={W - cut} height={24} />
          </g>
        )}
      </svg>
      <ul class="legend">
        <li class="c1">
          <span class="swatch" aria-hidden="true" />
          stable v{props.stable} · {100 - w}%
        </li>
        {props.canary && (
          <li class="c2">
            <span class="swatch" aria-hidden="true" />
            canary v{props.canary} · {w}%
          </li>
        )}
      </ul>
    </figure>
  );
}

function MetricsCharts(props: { endpointId: string; tick: number }): JSX.Element {
  const state = useLoad(() => get<Metrics>(`/api/v1/endpoints/${props.endpointId}/metrics`), [props.endpointId, props.tick]);
  return (
    <Async state={state} what="metrics">
      {(m) => {
        const vs = [m.stable, ...(m.canary ? [m.canary] : [])];
        const bars = (f: (v: VersionWindow) => number) =>
          vs.map((v, i) => ({ label: `${i === 0 ? "stable" : "canary"} v${v.version}`, value: f(v), cls: i === 0 ? "c1" : "c2" }));
        return (
          <>
            <p class="muted small">
              {when(m.since)} – {when(m.until)}
            </p>
            <div class="charts" data-testid="metrics">
              <BarChart title="Requests" bars={bars((v) => v.requests)} />
              <BarChart title="Error rate (%)" bars={bars((v) => v.error_rate * 100)} />
              <BarChart title="p95 latency (ms)" bars={bars((v) => v.p95_ms ?? 0)} />
              <BarChart title="Guardrail blocks" bars={bars((v) => v.blocked)} />
            </div>
          </>
        );
      }}
    </Async>
  );
}

export function EndpointPage(props: { ctx: Ctx; endpointId: string }): JSX.Element {
  const [tick, setTick] = useState(0);
  const endpoint = useLoad(() => get<Endpoint>(`/api/v1/endpoints/${props.endpointId}`), [props.endpointId, tick]);
  return (
    <Async state={endpoint} what="the endpoint">
      {(e) => <EndpointBody ctx={props.ctx} endpoint={e} tick={tick} changed={() => setTick((t) => t + 1)} />}
    </Async>
  );
}

function llmOf(v: ConfigVersion): string {
  const llm = v.spec.llm;
  if (!llm || llm.backend === "platform") return "the platform's LLM";
  return `${llm.model ?? "?"} at ${llm.base_url ?? "?"}${llm.api_key_set ? " (key set)" : ""}`;
}

// What each served version of a copilot endpoint answers with: its LLM, mode and prompt.
function ConfigVersions(props: { endpoint: Endpoint }): JSX.Element {
  const e = props.endpoint;
  const state = useLoad(async () => {
    const configs = await get<Page<ConfigSummary>>(`/api/v1/projects/${e.project_id}/copilot-configs?limit=100`);
    const config = configs.items.find((c) => c.name === e.subject);
    if (!config) return [];
    const labels: [string, string][] = [["stable", e.stable_label]];
    if (e.canary_label) labels.push(["canary", e.canary_label]);
    return Promise.all(
      labels.map(async ([variant, label]) => ({
        variant,
        version: await get<ConfigVersion>(`/api/v1/copilot-configs/${config.id}/versions/${label}`),
      })),
    );
  }, [e.id, e.stable_label, e.canary_label]);
  return (
    <>
      <h2>Configuration versions</h2>
      <Async state={state} what="the configuration versions">
        {(rows) =>
          rows.length === 0 ? (
            <Empty>Configuration {e.subject} not found.</Empty>
          ) : (
            <table data-testid="config-versions">
              <thead>
                <tr>
                  <th scope="col">Variant</th>
                  <th scope="col">Version</th>
                  <th scope="col">LLM</th>
                  <th scope="col">Answers</th>
                  <th scope="col">System prompt</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.variant}>
                    <td>{r.variant}</td>
                    <td>{r.version.version}</td>
                    <td>{llmOf(r.version)}</td>
                    <td>{r.version.spec.answer_mode ?? "auto"}</td>
                    <td>{r.version.spec.system_prompt ? r.version.spec.system_prompt.slice(0, 120) : "the platform's"}</td>
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

function EndpointBody(props: { ctx: Ctx; endpoint: Endpoint; tick: number; changed: () => void }): JSX.Element {
  const e = props.endpoint;
  const rollouts = useLoad(() => get<Rollout[]>(`/api/v1/endpoints/${e.id}/rollouts`), [e.id, props.tick]);
  const live = rollouts.data?.find((r) => LIVE.has(r.status));
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link to="/rollouts">Rollouts</Link> / <span>{e.name}</span>
      </nav>
      <PageHead title={e.name} />
      <dl class="facts">
        <dt>Kind</dt>
        <dd>{e.kind}</dd>
        <dt>Subject</dt>
        <dd>{e.subject}</dd>
        <dt>Sticky header</dt>
        <dd>{e.sticky_header ?? "—"}</dd>
        <dt>Updated</dt>
        <dd>{when(e.updated_at)}</dd>
      </dl>
      <SplitBar stable={e.stable_label} canary={e.canary_label} weight={e.canary_weight} />
      {e.kind === "copilot" && <ConfigVersions endpoint={e} />}
      <h2>Per-version metrics (last 5 minutes)</h2>
      <MetricsCharts endpointId={e.id} tick={props.tick} />
      {live && (
        <>
          <h2>Active rollout</h2>
          <RolloutLive key={live.id} ctx={props.ctx} initial={live} changed={props.changed} />
        </>
      )}
      {!live && props.ctx.can("endpoint:write") && <StartRollout endpointId={e.id} started={props.changed} />}
      <h2>Rollouts</h2>
      <Async state={rollouts} what="rollouts">
        {(list) =>
          list.length === 0 ? (
            <Empty>No rollouts on this endpoint yet.</Empty>
          ) : (
            <table data-testid="rollouts">
              <thead>
                <tr>
                  <th scope="col">Rollout</th>
                  <th scope="col">Canary</th>
                  <th scope="col">Status</th>
                  <th scope="col">Step</th>
                  <th scope="col">Failed analyses</th>
                  <th scope="col">Started</th>
                </tr>
              </thead>
              <tbody>
                {list.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <Link to={"/rollouts/" + r.id}>{r.id.slice(0, 8)}</Link>
                    </td>
                    <td>
                      v{r.stable_label} → v{r.canary_label}
                    </td>
                    <td>
                      <Status value={r.status} />
                    </td>
                    <td>
                      {Math.min(r.step + 1, r.steps)} / {r.steps}
                    </td>
                    <td>
                      {r.failed_analyses} / {r.policy.max_failed_analyses}
                    </td>
                    <td>{when(r.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
    </section>
  );
}

function StartRollout(props: { endpointId: string; started: () => void }): JSX.Element {
  const [open, setOpen] = useState(false);
  const [canary, setCanary] = useState("");
  const [steps, setSteps] = useState("5, 25, 50, 100");
  const [interval, setInterval_] = useState("60");
  const [maxFailed, setMaxFailed] = useState("2");
  const [suite, setSuite] = useState("");
  const [minScore, setMinScore] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  if (!open)
    return (
      <p>
        <button type="button" data-testid="start-rollout" onClick={() => setOpen(true)}>
          Start a rollout
        </button>
      </p>
    );
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setError(undefined);
    const weights = steps
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(Number);
    if (weights.some((w) => !Number.isInteger(w))) {
      setError(new Error("Steps are whole percents, separated by commas."));
      return;
    }
    if (suite.trim() && minScore.trim() === "") {
      setError(new Error("A suite needs a minimum score."));
      return;
    }
    // Numbers go as typed: the API validates them and answers a clear 422.
    const policy: Record<string, unknown> = {
      steps: weights,
      interval_s: Number(interval),
      max_failed_analyses: Number(maxFailed),
    };
    if (suite.trim()) policy.suite = { name: suite.trim(), min_score: Number(minScore) };
    setBusy(true);
    try {
      await post(`/api/v1/endpoints/${props.endpointId}/rollouts`, { canary: Number(canary), policy });
      setOpen(false);
      props.started();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="start-title">
      <h2 id="start-title">Start a rollout</h2>
      <label for="ro-canary">Canary version</label>
      <input id="ro-canary" type="number" min={1} required value={canary} onInput={(e) => setCanary((e.target as HTMLInputElement).value)} />
      <label for="ro-steps">Steps (canary weight per step, %)</label>
      <input id="ro-steps" required value={steps} onInput={(e) => setSteps((e.target as HTMLInputElement).value)} />
      <label for="ro-interval">Analysis interval (seconds)</label>
      <input id="ro-interval" type="number" min={1} required value={interval} onInput={(e) => setInterval_((e.target as HTMLInputElement).value)} />
      <label for="ro-failed">Max failed analyses</label>
      <input id="ro-failed" type="number" min={1} required value={maxFailed} onInput={(e) => setMaxFailed((e.target as HTMLInputElement).value)} />
      <label for="ro-suite">Agent-test suite (optional)</label>
      <input id="ro-suite" value={suite} onInput={(e) => setSuite((e.target as HTMLInputElement).value)} />
      <label for="ro-score">Suite's minimum score (0–1)</label>
      <input id="ro-score" type="number" min={0} max={1} step="any" value={minScore} onInput={(e) => setMinScore((e.target as HTMLInputElement).value)} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? "Starting…" : "Start"}
        </button>{" "}
        <button type="button" class="link" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}

export function RolloutPage(props: { ctx: Ctx; rolloutId: string }): JSX.Element {
  const state = useLoad(() => get<Rollout>(`/api/v1/rollouts/${props.rolloutId}`), [props.rolloutId]);
  return (
    <Async state={state} what="the rollout">
      {(r) => (
        <section>
          <nav class="crumbs" aria-label="Breadcrumb">
            <Link to="/rollouts">Rollouts</Link> / <Link to={"/rollouts/endpoints/" + r.endpoint_id}>endpoint</Link> /{" "}
            <span>{r.id.slice(0, 8)}</span>
          </nav>
          <PageHead title={`Rollout of v${r.canary_label} over v${r.stable_label}`} />
          <RolloutLive key={r.id} ctx={props.ctx} initial={r} changed={() => {}} />
        </section>
      )}
    </Async>
  );
}

/** A rollout's steps, status, buttons and timeline, polled every 2 s while it is running or paused. */
function RolloutLive(props: { ctx: Ctx; initial: Rollout; changed: () => void }): JSX.Element {
  const [r, setR] = useState(props.initial);
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!LIVE.has(r.status)) return;
    const t = setTimeout(
      () =>
        get<Rollout>(`/api/v1/rollouts/${r.id}`).then(
          (next) => {
            setR(next);
            // a new event (an analysis, a step, an end): the endpoint's split and metrics follow
            if (next.history.length !== r.history.length || next.status !== r.status) props.changed();
          },
          (e: Error) => setError(e),
        ),
      POLL_MS,
    );
    return () => clearTimeout(t);
  }, [r]);
  const act = async (verb: string) => {
    setBusy(true);
    setError(undefined);
    try {
      setR(await post<Rollout>(`/api/v1/rollouts/${r.id}/${verb}`));
      props.changed();
    } catch (err) {
      setError(err as Error);
      // a 409 means the rollout moved meanwhile (the orchestrator ended it): show where it is
      get<Rollout>(`/api/v1/rollouts/${r.id}`).then(setR, () => {});
    } finally {
      setBusy(false);
    }
  };
  const canWrite = props.ctx.can("endpoint:write") && LIVE.has(r.status);
  return (
    <div data-testid="rollout">
      <p>
        <span data-testid="rollout-status">
          <Status value={r.status} />
        </span>{" "}
        canary v{r.canary_label} at {r.weight}% · failed analyses{" "}
        <span data-testid="failed-analyses">
          {r.failed_analyses} / {r.policy.max_failed_analyses}
        </span>{" "}
        · analysis every {r.policy.interval_s} s{r.policy.suite ? ` · suite ${r.policy.suite.name} ≥ ${r.policy.suite.min_score}` : ""}
      </p>
      {r.reason && <p class="muted">{r.reason}</p>}
      <Stepper steps={r.policy.steps} step={r.step} status={r.status} />
      {canWrite && (
        <div class="actions" data-testid="rollout-actions">
          {r.status === "running" && (
            <button type="button" disabled={busy} onClick={() => act("pause")}>
              Pause
            </button>
          )}
          {r.status === "paused" && (
            <button type="button" disabled={busy} onClick={() => act("resume")}>
              Resume
            </button>
          )}{" "}
          <button type="button" disabled={busy} onClick={() => act("promote")}>
            Promote now
          </button>{" "}
          <button type="button" class="danger" disabled={busy} onClick={() => act("abort")}>
            Abort
          </button>
        </div>
      )}
      <ErrorBox error={error} />
      {r.test_run_id && (
        <p>
          Suite run: <Link to={"/agent-tests/runs/" + r.test_run_id}>{r.test_run_id.slice(0, 8)}</Link>
        </p>
      )}
      <h3>History</h3>
      <Timeline events={r.history} />
    </div>
  );
}

/** The weight steps left to right; the current one ringed and named in text. */
function Stepper(props: { steps: number[]; step: number; status: string }): JSX.Element {
  const n = props.steps.length;
  const W = 560;
  const gap = n > 1 ? (W - 60) / (n - 1) : 0;
  const x = (i: number) => (n > 1 ? 30 + i * gap : W / 2);
  const current = Math.min(props.step, n - 1);
  const done = props.status === "promoted";
  const label = done
    ? `Promoted after ${n} steps`
    : `Step ${current + 1} of ${n}: canary at ${props.steps[current]}%` + (LIVE.has(props.status) ? "" : ` (${props.status.replace(/_/g, " ")})`);
  return (
    <figure class="chart" data-testid="stepper" data-current={current} data-steps={n}>
      <figcaption>{label}</figcaption>
      <svg viewBox={`0 0 ${W} 56`} role="img" aria-label={label}>
        <title>{label}</title>
        {n > 1 && <line class="grid" x1={x(0)} x2={x(n - 1)} y1={20} y2={20} />}
        {props.steps.map((w, i) => {
          const reached = done || i < current;
          const here = !done && i === current;
          return (
            // a step not reached yet is an outline: outside a series class, whose fill would win
            <g key={i} class={reached || here ? "series " + (here ? "c2" : "c1") : undefined} aria-current={here ? "step" : undefined}>
              {reached || here ? <circle cx={x(i)} cy={20} r={here ? 10 : 7} /> : <circle class="grid" cx={x(i)} cy={20} r={7} fill="#fff" stroke-width={2} />}
              <text class="axis" x={x(i)} y={50} text-anchor="middle">
                {w}%
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

function figure(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(4);
  if (v === null || v === undefined) return "—";
  if (typeof v === "object" && !Array.isArray(v))
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k} ${figure(x)}`)
      .join(", ");
  return typeof v === "string" ? v : JSON.stringify(v);
}

function Timeline(props: { events: RolloutEvent[] }): JSX.Element {
  if (props.events.length === 0) return <Empty>No events yet.</Empty>;
  return (
    <ol class="turns" data-testid="timeline">
      {[...props.events].reverse().map((e, i) => (
        <li key={i} class="panel">
          <strong>{e.event.replace(/_/g, " ")}</strong> · step {e.step + 1}
          {e.weight !== null ? ` · ${e.weight}%` : ""} {e.verdict && <Status value={e.verdict === "pass" ? "passed" : e.verdict === "fail" ? "failed" : e.verdict} />}
          <span class="muted small">
            {" "}
            {when(e.at)}
            {e.actor ? ` · by ${e.actor}` : ""}
          </span>
          {e.reasons.length > 0 && (
            <ul>
              {e.reasons.map((why, j) => (
                <li key={j}>{why}</li>
              ))}
            </ul>
          )}
          {Object.keys(e.figures).length > 0 && (
            <p class="mono small">
              {Object.entries(e.figures)
                .map(([k, v]) => `${k}: ${figure(v)}`)
                .join(" · ")}
            </p>
          )}
        </li>
      ))}
    </ol>
  );
}
