import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { type Collection, get, type Page, post, type Project } from "../api";
import type { Ctx } from "../main";
import { navigate } from "../router";
import { Async, Empty, ErrorBox, Link, PageHead, useLoad, when } from "../ui";

export function ProjectsPage(props: { ctx: Ctx }): JSX.Element {
  const state = useLoad(() => get<Page<Project>>("/api/v1/projects?limit=100"), []);
  const [creating, setCreating] = useState(false);
  return (
    <section>
      <PageHead title="Projects">
        {props.ctx.can("project:write") && (
          <button type="button" data-testid="new-project" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            New project
          </button>
        )}
      </PageHead>
      {creating && <CreateForm onCreated={(p) => navigate("/projects/" + p.id)} />}
      <Async state={state} what="projects">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No projects yet.{props.ctx.can("project:write") ? " Create one to add collections and chat with them." : ""}</Empty>
          ) : (
            <ul class="cards" data-testid="projects">
              {page.items.map((p) => (
                <li key={p.id} class="card">
                  <Link to={"/projects/" + p.id}>{p.name}</Link>
                  {p.description && <p class="muted">{p.description}</p>}
                  <p class="muted small">Created {when(p.created_at)}</p>
                </li>
              ))}
            </ul>
          )
        }
      </Async>
    </section>
  );
}

function CreateForm(props: { onCreated: (p: Project) => void }): JSX.Element {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<Error | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      props.onCreated(await post<Project>("/api/v1/projects", { name, description: description || null }));
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <form class="panel" onSubmit={submit} aria-label="New project">
      <label for="project-name">Name</label>
      <input id="project-name" required maxLength={200} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      <label for="project-description">Description</label>
      <textarea id="project-description" value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
      <button type="submit">Create project</button>
      <ErrorBox error={error} />
    </form>
  );
}

export function ProjectPage(props: { ctx: Ctx; projectId: string }): JSX.Element {
  const { ctx, projectId } = props;
  const project = useLoad(() => get<Project>(`/api/v1/projects/${projectId}`), [projectId]);
  return (
    <Async state={project} what="the project">
      {(p) => <ProjectBody ctx={ctx} project={p} />}
    </Async>
  );
}

function ProjectBody(props: { ctx: Ctx; project: Project }): JSX.Element {
  const { ctx, project } = props;
  const collections = useLoad(() => get<Page<Collection>>(`/api/v1/projects/${project.id}/collections?limit=100`), [project.id]);
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  const [error, setError] = useState<Error | undefined>();
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const c = await post<Collection>(`/api/v1/projects/${project.id}/collections`, { name });
      navigate("/collections/" + c.id);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link to="/">Projects</Link> / <span>{project.name}</span>
      </nav>
      <PageHead title={project.name}>
        {ctx.can("copilot:use") && (
          <Link class="button" to={`/projects/${project.id}/chat`}>
            Copilot chat
          </Link>
        )}
        {ctx.can("collection:write") && (
          <button type="button" data-testid="new-collection" onClick={() => setCreating(!creating)} aria-expanded={creating}>
            New collection
          </button>
        )}
      </PageHead>
      {project.description && <p class="muted">{project.description}</p>}
      {creating && (
        <form class="panel" onSubmit={create} aria-label="New collection">
          <label for="collection-name">Collection name</label>
          <input id="collection-name" required maxLength={200} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          <button type="submit">Create collection</button>
          <ErrorBox error={error} />
        </form>
      )}
      <h2>Collections</h2>
      <Async state={collections} what="collections">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No collections in this project yet.</Empty>
          ) : (
            <table data-testid="collections">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Embedding model</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((c) => (
                  <tr key={c.id}>
                    <td>
                      <Link to={"/collections/" + c.id}>{c.name}</Link>
                    </td>
                    <td>
                      {c.embedding_model} ({c.dimensions}d)
                    </td>
                    <td>{when(c.created_at)}</td>
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
