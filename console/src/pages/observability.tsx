import type { JSX } from "preact";
import { type AuditEvent, get, type Page, qs } from "../api";
import { BarChart, LineChart } from "../charts";
import type { Ctx } from "../main";
import { Async, Empty, ErrorBox, Link, PageHead, useLoad } from "../ui";

interface Minute {
  start: number;
  requests: number;
  errors: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}
interface Observability {
  runs: { by_status: { kind: string; status: string; count: number }[]; failure_rate: number };
  http: { requests: number; error_rate: number; p50_ms: number | null; p95_ms: number | null; series: Minute[] };
  tokens: { daily_quota: number; used_today: number };
  ray: { connected: boolean; dashboard_url: string };
}
interface Usage {
  daily_token_quota: number;
  tokens_used_today: number;
  days: { day: string; requests: number; input_tokens: number; output_tokens: number }[];
}

const DAY = 86400;
const minute = (t: number) => new Date(t * 1000).toTimeString().slice(0, 5);
const day = (t: number) => new Date(t * 1000).toISOString().slice(5, 10);

export function ObservabilityPage(props: { ctx: Ctx }): JSX.Element {
  const { ctx } = props;
  const state = useLoad(async () => {
    const [obs, usage] = await Promise.all([
      get<Observability>("/api/v1/observability"),
      ctx.can("usage:read") ? get<Usage>("/api/v1/usage?days=14") : Promise.resolve(null),
    ]);
    return { obs, usage };
  }, []);
  return (
    <section>
      <PageHead title="Observability">
        {ctx.dashboardUrl && (
          <a class="button" href={ctx.dashboardUrl} target="_blank" rel="noreferrer noopener">
            Ray dashboard
          </a>
        )}
      </PageHead>
      <Async state={state} what="the platform's figures">
        {({ obs, usage }) => (
          <div class="charts" data-testid="charts">
            <Http obs={obs} />
            {usage && <Tokens usage={usage} />}
            <Runs obs={obs} />
            {ctx.can("audit:read") && <Guardrails />}
          </div>
        )}
      </Async>
    </section>
  );
}

function Http(props: { obs: Observability }): JSX.Element {
  const { http } = props.obs;
  if (!http.series.length) return <Empty>No API requests seen by this replica yet.</Empty>;
  return (
    <>
      <LineChart
        title={`Requests per minute (error rate ${(http.error_rate * 100).toFixed(1)}%)`}
        xLabel={minute}
        series={[
          { name: "requests", cls: "c1", points: http.series.map((m) => ({ x: m.start, y: m.requests })) },
          { name: "5xx errors", cls: "c4", points: http.series.map((m) => ({ x: m.start, y: m.errors })) },
        ]}
      />
      <LineChart
        title="Latency percentiles"
        yUnit=" ms"
        xLabel={minute}
        series={[
          { name: "p50", cls: "c1", points: http.series.map((m) => ({ x: m.start, y: m.p50_ms })) },
          { name: "p95", cls: "c2", points: http.series.map((m) => ({ x: m.start, y: m.p95_ms })) },
          { name: "p99", cls: "c3", points: http.series.map((m) => ({ x: m.start, y: m.p99_ms })) },
        ]}
      />
    </>
  );
}

function Tokens(props: { usage: Usage }): JSX.Element {
  const { usage } = props;
  if (!usage.days.length) return <Empty>No tokens used in the last 14 days.</Empty>;
  const points = usage.days
    .map((d) => ({ x: Date.parse(d.day + "T00:00:00Z") / 1000, y: d.input_tokens + d.output_tokens }))
    .sort((a, b) => a.x - b.x);
  return (
    <LineChart
      title="Tokens per day"
      xLabel={day}
      series={[{ name: "tokens", cls: "c2", points }]}
      reference={usage.daily_token_quota > 0 ? { y: usage.daily_token_quota, label: "daily quota" } : undefined}
    />
  );
}

function Runs(props: { obs: Observability }): JSX.Element {
  const by = new Map<string, number>();
  for (const r of props.obs.runs.by_status) by.set(r.status, (by.get(r.status) ?? 0) + r.count);
  if (!by.size) return <Empty>No runs yet.</Empty>;
  const cls: Record<string, string> = { succeeded: "c5", failed: "c4", dead_lettered: "c4", running: "c1", queued: "c3" };
  return (
    <div>
      <BarChart
        title={`Runs by state (failure rate ${(props.obs.runs.failure_rate * 100).toFixed(1)}%)`}
        bars={Array.from(by, ([status, value]) => ({ label: status.replace("_", " "), value, cls: cls[status] ?? "c2" }))}
      />
      <p class="small">
        <Link to="/runs">All runs</Link>
      </p>
    </div>
  );
}

/** Guardrail blocks per day, counted from the audit log (each block is a `guardrail.block` event). */
function Guardrails(): JSX.Element {
  const since = new Date(Date.now() - 13 * DAY * 1000);
  since.setUTCHours(0, 0, 0, 0);
  const state = useLoad(
    () => get<Page<AuditEvent>>("/api/v1/audit/events" + qs({ action: "guardrail.block", since: since.toISOString(), limit: 500 })),
    [],
  );
  if (state.error) return <ErrorBox error={state.error} />;
  if (!state.data) return <p role="status">Loading guardrail hits…</p>;
  const counts = new Map<number, number>();
  for (let i = 0; i < 14; i++) counts.set(since.getTime() / 1000 + i * DAY, 0);
  for (const e of state.data.items) {
    const d = Math.floor(Date.parse(e.created_at) / 1000 / DAY) * DAY;
    if (counts.has(d)) counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  return (
    <LineChart
      title="Guardrail blocks per day"
      xLabel={day}
      series={[{ name: "blocks", cls: "c4", points: Array.from(counts, ([x, y]) => ({ x, y })) }]}
    />
  );
}
