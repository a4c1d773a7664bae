import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { get, type Page, post, qs, type Run, type RunLogs } from "../api";
import type { Ctx } from "../main";
import { navigate } from "../router";
import { Async, Empty, ErrorBox, Link, PageHead, Status, useLoad, when } from "../ui";

const TERMINAL = new Set(["succeeded", "failed", "dead_lettered", "cancelled"]);
const STATUSES = ["", "queued", "running", "cancelling", "succeeded", "failed", "cancelled", "dead_lettered"];

export function RunsPage(props: { ctx: Ctx }): JSX.Element {
  const [status, setStatus] = useState("");
  const [kind, setKind] = useState("");
  const state = useLoad(() => get<Page<Run>>("/api/v1/runs" + qs({ limit: 100, status, kind })), [status, kind]);
  void props;
  return (
    <section>
      <PageHead title="Runs" />
      <form class="row filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status{" "}
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s ? s.replace("_", " ") : "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind{" "}
          <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            {["", "ingest", "train", "agent_test", "predict"].map((k) => (
              <option key={k} value={k}>
                {k || "any"}
              </option>
            ))}
          </select>
        </label>
      </form>
      <Async state={state} what="runs">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No runs{status || kind ? " match these filters" : " yet: ingesting a collection starts one"}.</Empty>
          ) : (
            <table data-testid="runs">
              <thead>
                <tr>
                  <th scope="col">Run</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <Link to={"/runs/" + r.id}>{r.id.slice(0, 8)}</Link>
                    </td>
                    <td>{r.kind}</td>
                    <td>
                      <Status value={r.status} />
                    </td>
                    <td>
                      {r.attempts}/{r.max_attempts}
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

export function RunPage(props: { ctx: Ctx; runId: string }): JSX.Element {
  const state = useLoad(() => get<Run>(`/api/v1/runs/${props.runId}`), [props.runId]);
  return <Async state={state} what="the run">{(r) => <RunBody key={r.id} ctx={props.ctx} initial={r} />}</Async>;
}

function RunBody(props: { ctx: Ctx; initial: Run }): JSX.Element {
  const { ctx } = props;
  const [run, setRun] = useState(props.initial);
  const [logs, setLogs] = useState("");
  const [error, setError] = useState<Error | undefined>();
  const [follow, setFollow] = useState(true);
  const offset = useRef(0);
  const job = useRef<string | null>(props.initial.ray_job_id);
  const pre = useRef<HTMLPreElement>(null);

  // Follow: poll the run and its logs from the last offset until the run ends.
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout>;
    const tick = async () => {
      try {
        const [r, l] = await Promise.all([
          get<Run>(`/api/v1/runs/${run.id}`),
          get<RunLogs & { ray_job_id: string | null }>(`/api/v1/runs/${run.id}/logs?offset=${offset.current}`),
        ]);
        if (!live) return;
        setRun(r);
        if (l.ray_job_id !== job.current) {
          // a new attempt: its log starts again from 0
          job.current = l.ray_job_id;
          offset.current = 0;
          setLogs("");
        } else if (l.logs) {
          setLogs((s) => s + l.logs);
          offset.current = l.next_offset;
        }
        if (!TERMINAL.has(r.status) || !TERMINAL.has(l.status ?? "")) timer = setTimeout(tick, 1500);
      } catch (err) {
        if (live) setError(err as Error);
      }
    };
    tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [run.id]);
  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [logs, follow]);

  const act = async (what: "cancel" | "replay") => {
    setError(undefined);
    try {
      const r = await post<Run>(`/api/v1/runs/${run.id}/${what}`);
      if (what === "replay") navigate("/runs/" + r.id);
      else setRun(r);
    } catch (err) {
      setError(err as Error);
    }
  };
  const progress = Object.entries(run.progress);
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link to="/runs">Runs</Link> / <span>{run.id.slice(0, 8)}</span>
      </nav>
      <PageHead title={`${run.kind} run ${run.id.slice(0, 8)}`}>
        {ctx.can("run:write") && !TERMINAL.has(run.status) && (
          <button type="button" data-testid="cancel" onClick={() => act("cancel")}>
            Cancel
          </button>
        )}
        {ctx.can("run:write") && run.status === "dead_lettered" && (
          <button type="button" data-testid="replay" onClick={() => act("replay")}>
            Replay
          </button>
        )}
        {ctx.dashboardUrl && run.ray_job_id && (
          <a class="button" data-testid="ray-link" href={`${ctx.dashboardUrl}/#/jobs/${encodeURIComponent(run.ray_job_id)}`} target="_blank" rel="noreferrer noopener">
            Open in Ray dashboard
          </a>
        )}
      </PageHead>
      <ErrorBox error={error} />
      <dl class="facts" data-testid="run-facts">
        <dt>Status</dt>
        <dd>
          <Status value={run.status} />
        </dd>
        <dt>Attempts</dt>
        <dd>
          {run.attempts} of {run.max_attempts}
        </dd>
        <dt>Ray job</dt>
        <dd>{run.ray_job_id ?? "not submitted yet"}</dd>
        <dt>Created</dt>
        <dd>{when(run.created_at)}</dd>
        <dt>Started</dt>
        <dd>{when(run.started_at)}</dd>
        <dt>Finished</dt>
        <dd>{when(run.finished_at)}</dd>
        {run.error && (
          <>
            <dt>Error</dt>
            <dd class="error-text">{run.error}</dd>
          </>
        )}
      </dl>
      <h2>Progress</h2>
      {progress.length === 0 ? (
        <Empty>No progress reported yet.</Empty>
      ) : (
        <dl class="facts" data-testid="progress">
          {progress.map(([k, v]) => (
            <>
              <dt key={k}>{k.replace(/_/g, " ")}</dt>
              <dd>{typeof v === "object" ? JSON.stringify(v) : String(v)}</dd>
            </>
          ))}
        </dl>
      )}
      <h2>
        Logs{" "}
        <label class="small">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> follow
        </label>
      </h2>
      <pre class="logs" ref={pre} tabIndex={0} aria-label="Run logs" data-testid="logs">
        {logs || (TERMINAL.has(run.status) ? "(no output)" : "Waiting for output…")}
      </pre>
      {Object.keys(run.result).length > 0 && (
        <>
          <h2>Result</h2>
          <pre class="logs">{JSON.stringify(run.result, null, 2)}</pre>
        </>
      )}
    </section>
  );
}
