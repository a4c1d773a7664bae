import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, type Page, type Project, type Run } from "../api";
import type { Ctx } from "../main";
import { Async, Empty, ErrorBox, Link, PageHead, Status, useLoad, when } from "../ui";

interface Suite {
  id: string;
  name: string;
  latest_version: number;
  created_at: string;
}
interface Summary {
  cases: number;
  passed: number;
  failed: number;
  errors: number;
  pass_rate: number;
  score: number;
  threshold: number;
  suite_passed: boolean;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
}
interface TestRun extends Run {
  suite: string;
  suite_version: number;
  target: string;
  summary: Summary | null;
}
interface CaseResult {
  case_id: string;
  status: string;
  score: number;
  output: string;
  latency_ms: number | null;
  error: string | null;
}
interface Change {
  case_id: string;
  before: string;
  after: string;
  score_delta: number;
}
interface Comparison {
  regressions: Change[];
  fixes: Change[];
  score_delta: number;
  pass_rate_delta: number;
}

const TERMINAL = new Set(["succeeded", "failed", "dead_lettered", "cancelled"]);
const pct = (x: number) => (x * 100).toFixed(1) + "%";

export function AgentTestsPage(props: { ctx: Ctx }): JSX.Element {
  void props;
  const projects = useLoad(() => get<Page<Project>>("/api/v1/projects?limit=100"), []);
  return (
    <section>
      <PageHead title="Agent tests" />
      <Async state={projects} what="projects">
        {(page) => (page.items.length === 0 ? <Empty>No projects yet: suites live in a project.</Empty> : <Suites projects={page.items} />)}
      </Async>
    </section>
  );
}

function Suites(props: { projects: Project[] }): JSX.Element {
  const [projectId, setProjectId] = useState(props.projects[0].id);
  const state = useLoad(async () => {
    try {
      const [suites, runs] = await Promise.all([
        get<Page<Suite>>(`/api/v1/projects/${projectId}/agent-suites?limit=100`),
        get<Page<TestRun>>(`/api/v1/projects/${projectId}/agent-test-runs?limit=50`),
      ]);
      return { available: true, suites: suites.items, runs: runs.items };
    } catch (err) {
      // a platform without the agent-tests API answers 404 for the route itself
      if (err instanceof ApiError && err.status === 404 && err.code !== "not_found") return { available: false, suites: [], runs: [] };
      throw err;
    }
  }, [projectId]);
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
      <Async state={state} what="suites">
        {(s) =>
          !s.available ? (
            <Empty>Coming: this platform does not serve agent tests yet.</Empty>
          ) : (
            <>
              <h2>Suites</h2>
              {s.suites.length === 0 ? (
                <Empty>No suites in this project. Add one with `raylane test` or the SDK.</Empty>
              ) : (
                <table data-testid="suites">
                  <thead>
                    <tr>
                      <th scope="col">Suite</th>
                      <th scope="col">Latest version</th>
                      <th scope="col">Created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {s.suites.map((x) => (
                      <tr key={x.id}>
                        <td>{x.name}</td>
                        <td>v{x.latest_version}</td>
                        <td>{when(x.created_at)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              <h2>Test runs</h2>
              {s.runs.length === 0 ? (
                <Empty>No test runs yet.</Empty>
              ) : (
                <table data-testid="test-runs">
                  <thead>
                    <tr>
                      <th scope="col">Run</th>
                      <th scope="col">Suite</th>
                      <th scope="col">Target</th>
                      <th scope="col">Status</th>
                      <th scope="col">Pass rate</th>
                      <th scope="col">Verdict</th>
                    </tr>
                  </thead>
                  <tbody>
                    {s.runs.map((r) => (
                      <tr key={r.id}>
                        <td>
                          <Link to={"/agent-tests/runs/" + r.id}>{r.id.slice(0, 8)}</Link>
                        </td>
                        <td>
                          {r.suite} v{r.suite_version}
                        </td>
                        <td>{r.target}</td>
                        <td>
                          <Status value={r.status} />
                        </td>
                        <td>{r.summary ? pct(r.summary.pass_rate) : "—"}</td>
                        <td>{r.summary ? <Status value={r.summary.suite_passed ? "passed" : "failed"} /> : "—"}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          )
        }
      </Async>
    </>
  );
}

export function AgentTestRunPage(props: { ctx: Ctx; runId: string }): JSX.Element {
  const state = useLoad(() => get<TestRun>(`/api/v1/agent-test-runs/${props.runId}`), [props.runId]);
  return <Async state={state} what="the test run">{(r) => <TestRunBody key={r.id} initial={r} />}</Async>;
}

function TestRunBody(props: { initial: TestRun }): JSX.Element {
  const [run, setRun] = useState(props.initial);
  const [error, setError] = useState<Error | undefined>();
  const [base, setBase] = useState("");
  useEffect(() => {
    if (TERMINAL.has(run.status)) return;
    const t = setTimeout(
      () =>
        get<TestRun>(`/api/v1/agent-test-runs/${run.id}`).then(setRun, (e: Error) => setError(e)),
      1500,
    );
    return () => clearTimeout(t);
  }, [run]);
  const results = useLoad(
    () => (TERMINAL.has(run.status) ? get<Page<CaseResult>>(`/api/v1/agent-test-runs/${run.id}/results?limit=200`) : Promise.resolve(null)),
    [run.id, TERMINAL.has(run.status)],
  );
  const others = useLoad(
    () => (run.project_id ? get<Page<TestRun>>(`/api/v1/projects/${run.project_id}/agent-test-runs?limit=50`) : Promise.resolve(null)),
    [run.id],
  );
  const comparison = useLoad(
    () => (base ? get<Comparison>(`/api/v1/agent-test-runs/${run.id}/compare/${base}`) : Promise.resolve(null)),
    [run.id, base],
  );
  const p = run.progress as Record<string, number | undefined>;
  const s = run.summary;
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link to="/agent-tests">Agent tests</Link> / <span>{run.id.slice(0, 8)}</span>
      </nav>
      <PageHead title={`${run.suite} v${run.suite_version} against ${run.target}`} />
      <ErrorBox error={error} />
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <Status value={run.status} />
        </dd>
        <dt>Progress</dt>
        <dd>
          {p.cases_done ?? 0} / {p.cases_total ?? "?"} cases ({p.passed ?? 0} passed, {p.failed ?? 0} failed, {p.error ?? 0} errors)
        </dd>
        {s && (
          <>
            <dt>Pass rate</dt>
            <dd>
              {pct(s.pass_rate)} · score {s.score.toFixed(3)} against a threshold of {s.threshold} · <Status value={s.suite_passed ? "passed" : "failed"} />
            </dd>
            <dt>Latency</dt>
            <dd>
              p50 {s.latency_p50_ms ?? "—"} ms · p95 {s.latency_p95_ms ?? "—"} ms
            </dd>
          </>
        )}
        <dt>Platform run</dt>
        <dd>
          <Link to={"/runs/" + run.id}>{run.id.slice(0, 8)}</Link>
        </dd>
      </dl>
      {others.data && others.data.items.length > 1 && (
        <>
          <h2>Compare with an earlier run</h2>
          <label>
            Base run{" "}
            <select value={base} onChange={(e) => setBase((e.target as HTMLSelectElement).value)}>
              <option value="">choose…</option>
              {others.data.items
                .filter((o) => o.id !== run.id)
                .map((o) => (
                  <option key={o.id} value={o.id}>
                    {o.id.slice(0, 8)} · {o.suite} v{o.suite_version} · {o.target}
                  </option>
                ))}
            </select>
          </label>
          {comparison.error && <ErrorBox error={comparison.error} />}
          {comparison.data && (
            <div class="panel" data-testid="comparison">
              <p>
                Pass rate {comparison.data.pass_rate_delta >= 0 ? "+" : ""}
                {pct(comparison.data.pass_rate_delta)}, score {comparison.data.score_delta >= 0 ? "+" : ""}
                {comparison.data.score_delta.toFixed(3)}
              </p>
              {comparison.data.regressions.length === 0 ? (
                <p class="ok">No regressions.</p>
              ) : (
                <ul>
                  {comparison.data.regressions.map((c) => (
                    <li key={c.case_id} class="error-text">
                      {c.case_id}: {c.before} → {c.after}
                    </li>
                  ))}
                </ul>
              )}
            </div>
          )}
        </>
      )}
      <h2>Cases</h2>
      <Async state={results} what="case results">
        {(page) =>
          page === null ? (
            <Empty>Results appear when the run ends.</Empty>
          ) : page.items.length === 0 ? (
            <Empty>No case results.</Empty>
          ) : (
            <table data-testid="cases">
              <thead>
                <tr>
                  <th scope="col">Case</th>
                  <th scope="col">Status</th>
                  <th scope="col">Score</th>
                  <th scope="col">Latency</th>
                  <th scope="col">Output</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((c) => (
                  <tr key={c.case_id}>
                    <td>{c.case_id}</td>
                    <td>
                      <Status value={c.status} />
                    </td>
                    <td>{c.score.toFixed(2)}</td>
                    <td>{c.latency_ms === null ? "—" : c.latency_ms.toFixed(0) + " ms"}</td>
                    <td class="summary">{c.error ?? c.output}</td>
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
