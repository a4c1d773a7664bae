import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { type Collection, type Doc, get, type Page, post, type Project, type Run, type SearchHit } from "../api";
import type { Ctx } from "../main";
import { Async, bytes, Empty, ErrorBox, Link, PageHead, Status, useLoad, when } from "../ui";

const TERMINAL = new Set(["succeeded", "failed", "dead_lettered", "cancelled"]);

export function CollectionPage(props: { ctx: Ctx; collectionId: string }): JSX.Element {
  const state = useLoad(async () => {
    const c = await get<Collection>(`/api/v1/collections/${props.collectionId}`);
    const p = await get<Project>(`/api/v1/projects/${c.project_id}`);
    return { c, p };
  }, [props.collectionId]);
  return <Async state={state} what="the collection">{({ c, p }) => <Body key={c.id} ctx={props.ctx} collection={c} project={p} />}</Async>;
}

function Body(props: { ctx: Ctx; collection: Collection; project: Project }): JSX.Element {
  const { ctx, collection, project } = props;
  const docs = useLoad(() => get<Page<Doc>>(`/api/v1/collections/${collection.id}/documents?limit=100`), [collection.id]);
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState<Error | undefined>();
  const write = ctx.can("collection:write");

  // Live progress: poll the ingest run until it ends, refreshing the document statuses.
  useEffect(() => {
    if (!run || TERMINAL.has(run.status)) return;
    const t = setTimeout(async () => {
      try {
        setRun(await get<Run>(`/api/v1/runs/${run.id}`));
        docs.reload();
      } catch (err) {
        setError(err as Error);
      }
    }, 1000);
    return () => clearTimeout(t);
  }, [run]);

  const ingest = async () => {
    setError(undefined);
    try {
      setRun(await post<Run>(`/api/v1/collections/${collection.id}/ingest`));
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link to="/">Projects</Link> / <Link to={"/projects/" + project.id}>{project.name}</Link> / <span>{collection.name}</span>
      </nav>
      <PageHead title={collection.name}>
        {write && (
          <button type="button" data-testid="ingest" onClick={ingest} disabled={!!run && !TERMINAL.has(run.status)}>
            Ingest
          </button>
        )}
      </PageHead>
      <p class="muted small">
        {collection.embedding_model} · {collection.dimensions} dimensions
      </p>
      <ErrorBox error={error} />
      {run && <IngestProgress run={run} />}
      {write && <Upload collectionId={collection.id} onUploaded={docs.reload} />}
      <h2>Documents</h2>
      <Async state={docs} what="documents">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No documents yet.{write ? " Drop files above or choose them to upload." : ""}</Empty>
          ) : (
            <table data-testid="documents">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">Chunks</th>
                  <th scope="col">Size</th>
                  <th scope="col">Added</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((d) => (
                  <tr key={d.id}>
                    <td class="docname">{d.name}</td>
                    <td>
                      <Status value={d.status} />
                      {d.error && <span class="muted small"> {d.error}</span>}
                    </td>
                    <td>{d.chunk_count}</td>
                    <td>{bytes(d.size)}</td>
                    <td>{when(d.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
      <Search collectionId={collection.id} />
    </section>
  );
}

function IngestProgress(props: { run: Run }): JSX.Element {
  const { run } = props;
  // The ingest job reports documents first, then chunks as it embeds them.
  const p = run.progress as Record<string, number | undefined>;
  const byChunks = Number(p.chunks_total ?? 0) > 0;
  const done = Number((byChunks ? p.chunks_done : p.documents_done) ?? 0);
  const total = Number((byChunks ? p.chunks_total : p.documents_total) ?? 0);
  const unit = byChunks ? "chunks" : "documents";
  return (
    <div class="panel" data-testid="ingest-progress" aria-live="polite">
      <p>
        Ingest run <Link to={"/runs/" + run.id}>{run.id.slice(0, 8)}</Link> <Status value={run.status} /> attempt {run.attempts}/{run.max_attempts}
      </p>
      {total > 0 ? (
        <progress max={total} value={done} aria-label="Ingest progress">
          {done}/{total}
        </progress>
      ) : (
        <progress aria-label="Ingest progress" />
      )}
      {total > 0 && (
        <span class="small">
          {" "}
          {done} / {total} {unit}
        </span>
      )}
      {run.error && <p class="state error">{run.error}</p>}
    </div>
  );
}

function Upload(props: { collectionId: string; onUploaded: () => void }): JSX.Element {
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const [done, setDone] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const send = async (files: FileList | File[]) => {
    const list = Array.from(files);
    if (!list.length) return;
    const form = new FormData();
    for (const f of list) form.append("files", f, f.name);
    setBusy(true);
    setError(undefined);
    try {
      await post(`/api/v1/collections/${props.collectionId}/documents`, form);
      setDone(`Uploaded ${list.length} file${list.length > 1 ? "s" : ""}.`);
      props.onUploaded();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
      if (input.current) input.current.value = "";
    }
  };
  return (
    <div
      class={"dropzone" + (over ? " over" : "")}
      data-testid="dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        if (e.dataTransfer) send(e.dataTransfer.files);
      }}
    >
      <p>Drop files here (text, Markdown, HTML, PDF, JSONL), or</p>
      <label for="upload-files" class="button">
        Choose files
      </label>
      <input
        id="upload-files"
        class="visually-hidden"
        type="file"
        multiple
        onChange={(e) => send((e.target as HTMLInputElement).files ?? [])}
      />
      {busy && <p role="status">Uploading…</p>}
      {done && !busy && <p role="status">{done}</p>}
      <ErrorBox error={error} />
    </div>
  );
}

function Search(props: { collectionId: string }): JSX.Element {
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState<"vector" | "hybrid">("vector");
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  const run = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setHits(null);
    try {
      const r = await post<{ hits: SearchHit[] }>(`/api/v1/collections/${props.collectionId}/search`, { query, mode, top_k: 8 });
      setHits(r.hits);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="search-title">
      <h2 id="search-title">Search playground</h2>
      <form class="row" onSubmit={run}>
        <label for="search-query" class="visually-hidden">
          Query
        </label>
        <input id="search-query" placeholder="Ask the collection…" required value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        <fieldset class="inline">
          <legend class="visually-hidden">Mode</legend>
          {(["vector", "hybrid"] as const).map((m) => (
            <label key={m}>
              <input type="radio" name="mode" value={m} checked={mode === m} onChange={() => setMode(m)} /> {m}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={busy}>
          Search
        </button>
      </form>
      <ErrorBox error={error} />
      {busy && <p role="status">Searching…</p>}
      {hits && hits.length === 0 && <Empty>No hits. Has the collection been ingested?</Empty>}
      {hits && hits.length > 0 && (
        <ol class="hits" data-testid="hits">
          {hits.map((h) => (
            <li key={h.chunk_id}>
              <p>
                <strong>{h.document_name}</strong> <span class="muted">chunk {h.chunk_index}</span>{" "}
                <span class="score" data-testid="score">
                  {h.score.toFixed(3)}
                </span>
              </p>
              <p class="passage">{h.text}</p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
