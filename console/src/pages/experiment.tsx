import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { get, type Page, post } from "../api";
import { LineChart, type Series } from "../charts";
import type { Ctx } from "../main";
import { Async, Empty, Link, PageHead, Status, useLoad, when } from "../ui";

interface Experiment {
  id: string;
  project_id: string;
  name: string;
  description: string | null;
}
interface ExpRun {
  id: string;
  name: string;
  status: string;
  params: Record<string, string>;
  metrics: Record<string, number>;
  started_at: string;
}
interface Point {
  step: number;
  value: number;
}
interface Comparison {
  runs: ExpRun[];
  params_diff: Record<string, Record<string, string | null>>;
  metrics: Record<string, Record<string, Point[]>>;
}

const COLOURS = ["c1", "c2", "c3", "c4", "c5"];

/** An experiment's tracking runs; pick runs to see their metric curves side by side. */
export function ExperimentPage(props: { ctx: Ctx; experimentId: string }): JSX.Element {
  const state = useLoad(async () => {
    const experiment = await get<Experiment>(`/api/v1/experiments/${props.experimentId}`);
    const runs = await get<Page<ExpRun>>(`/api/v1/experiments/${props.experimentId}/runs?limit=100`);
    return { experiment, runs: runs.items };
  }, [props.experimentId]);
  return <Async state={state} what="the experiment">{(s) => <Body key={s.experiment.id} experiment={s.experiment} runs={s.runs} />}</Async>;
}

function Body(props: { experiment: Experiment; runs: ExpRun[] }): JSX.Element {
  const { experiment, runs } = props;
  const [chosen, setChosen] = useState<string[]>(runs.slice(0, 2).map((r) => r.id));
  const comparison = useLoad(async (): Promise<Comparison | null> => {
    if (chosen.length === 0) return null;
    if (chosen.length >= 2) return post<Comparison>("/api/v1/experiment-comparisons", { experiment_run_ids: chosen });
    // one run: its own history in the comparison's shape
    const histories = await get<{ key: string; points: Point[] }[]>(`/api/v1/experiment-runs/${chosen[0]}/metric-history`);
    const metrics: Comparison["metrics"] = {};
    for (const h of histories) metrics[h.key] = { [chosen[0]]: h.points };
    return { runs: runs.filter((r) => r.id === chosen[0]), params_diff: {}, metrics };
  }, [chosen.join(",")]);
  const name = (id: string) => runs.find((r) => r.id === id)?.name ?? id.slice(0, 8);
  const toggle = (id: string) => setChosen((c) => (c.includes(id) ? c.filter((x) => x !== id) : [...c, id].slice(-5)));
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link to="/training">Training</Link> / <span>{experiment.name}</span>
      </nav>
      <PageHead title={experiment.name} />
      {experiment.description && <p class="muted">{experiment.description}</p>}
      <h2>Runs</h2>
      {runs.length === 0 ? (
        <Empty>No runs logged to this experiment yet.</Empty>
      ) : (
        <table data-testid="experiment-runs">
          <thead>
            <tr>
              <th scope="col">Compare</th>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Latest metrics</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td>
                  <input type="checkbox" aria-label={`Compare ${r.name}`} checked={chosen.includes(r.id)} onChange={() => toggle(r.id)} />
                </td>
                <td>{r.name}</td>
                <td>
                  <Status value={r.status} />
                </td>
                <td class="summary">
                  {Object.entries(r.metrics)
                    .map(([k, v]) => `${k}=${Number(v.toFixed(4))}`)
                    .join(" ")}
                </td>
                <td>{when(r.started_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Async state={comparison} what="metric curves">
        {(c) =>
          c === null ? (
            <Empty>Choose runs to see their metric curves.</Empty>
          ) : (
            <>
              <div class="charts" data-testid="metric-charts">
                {Object.keys(c.metrics).length === 0 && <Empty>These runs logged no metrics.</Empty>}
                {Object.entries(c.metrics).map(([metric, byRun]) => {
                  const series: Series[] = Object.entries(byRun).map(([runId, points], i) => ({
                    name: name(runId),
                    cls: COLOURS[i % COLOURS.length],
                    points: points.map((p) => ({ x: p.step, y: p.value })),
                  }));
                  return <LineChart key={metric} title={metric} series={series} xLabel={(x) => "step " + x} />;
                })}
              </div>
              {Object.keys(c.params_diff).length > 0 && (
                <>
                  <h2>Parameters that differ</h2>
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Parameter</th>
                        {chosen.map((id) => (
                          <th scope="col" key={id}>
                            {name(id)}
                          </th>
                        ))}
                      </tr>
                    </thead>
                    <tbody>
                      {Object.entries(c.params_diff).map(([param, values]) => (
                        <tr key={param}>
                          <td>{param}</td>
                          {chosen.map((id) => (
                            <td key={id}>{values[id] ?? "—"}</td>
                          ))}
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </>
              )}
            </>
          )
        }
      </Async>
    </section>
  );
}
