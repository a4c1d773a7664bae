import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { get, type Page, type Project } from "../api";
import type { Ctx } from "../main";
import { Async, Empty, Link, PageHead, useLoad, when } from "../ui";

interface Experiment {
  id: string;
  name: string;
  description: string | null;
  created_at: string;
}
interface Model {
  id: string;
  name: string;
  description: string | null;
  latest_version: number;
  aliases: Record<string, number>;
  updated_at: string;
}

function ProjectPicker(props: { projects: Project[]; value: string; onChange: (id: string) => void }): JSX.Element {
  return (
    <label>
      Project{" "}
      <select value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        {props.projects.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </select>
    </label>
  );
}

export function TrainingPage(props: { ctx: Ctx }): JSX.Element {
  const projects = useLoad(() => get<Page<Project>>("/api/v1/projects?limit=100"), []);
  return (
    <section>
      <PageHead title="Training" />
      <h2>Experiments</h2>
      <Async state={projects} what="projects">
        {(page) => (page.items.length === 0 ? <Empty>No projects yet: experiments live in a project.</Empty> : <Experiments projects={page.items} />)}
      </Async>
      {props.ctx.can("model:read") && <Models />}
    </section>
  );
}

function Experiments(props: { projects: Project[] }): JSX.Element {
  const [projectId, setProjectId] = useState(props.projects[0].id);
  const state = useLoad(() => get<Page<Experiment>>(`/api/v1/projects/${projectId}/experiments?limit=100`), [projectId]);
  return (
    <>
      <ProjectPicker projects={props.projects} value={projectId} onChange={setProjectId} />
      <Async state={state} what="experiments">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No experiments in this project. Start one from a notebook with the tracking client.</Empty>
          ) : (
            <table data-testid="experiments">
              <thead>
                <tr>
                  <th scope="col">Experiment</th>
                  <th scope="col">Description</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((x) => (
                  <tr key={x.id}>
                    <td>
                      <Link to={"/training/experiments/" + x.id}>{x.name}</Link>
                    </td>
                    <td>{x.description ?? ""}</td>
                    <td>{when(x.created_at)}</td>
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

function Models(): JSX.Element {
  const state = useLoad(() => get<Page<Model>>("/api/v1/models?limit=100"), []);
  return (
    <>
      <h2>Model registry</h2>
      <Async state={state} what="models">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No registered models yet.</Empty>
          ) : (
            <table data-testid="models">
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">Latest version</th>
                  <th scope="col">Aliases</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((m) => (
                  <tr key={m.id}>
                    <td>{m.name}</td>
                    <td>v{m.latest_version}</td>
                    <td>
                      {Object.entries(m.aliases).map(([a, v]) => (
                        <span key={a} class="badge">
                          {a} → v{v}
                        </span>
                      ))}
                    </td>
                    <td>{when(m.updated_at)}</td>
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
