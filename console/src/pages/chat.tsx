import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type Citation, type Conversation, type Doc, get, type Page, post, type Project, type SearchHit, stream } from "../api";
import type { Ctx } from "../main";
import { navigate } from "../router";
import { Async, Empty, ErrorBox, Link, PageHead, useLoad, when } from "../ui";

interface Turn {
  role: "user" | "assistant";
  text: string;
  citations: Citation[];
  question?: string; // for an answer: what was asked (opens the cited passage by search)
  blocked?: { stage: string; detectors: string[]; detail: string };
  streaming?: boolean;
}

// The output redactor replaces what it finds with a typed placeholder ([EMAIL], [SECRET] ...).
const PLACEHOLDER = /\[([A-Z][A-Z_]{2,})\]/g;

function redactions(text: string): string[] {
  return Array.from(new Set(Array.from(text.matchAll(PLACEHOLDER), (m) => m[1])));
}

export function ChatPage(props: { ctx: Ctx; projectId: string; conversationId?: string }): JSX.Element {
  const project = useLoad(() => get<Project>(`/api/v1/projects/${props.projectId}`), [props.projectId]);
  return <Async state={project} what="the project">{(p) => <Chat key={p.id} ctx={props.ctx} project={p} conversationId={props.conversationId} />}</Async>;
}

function Chat(props: { ctx: Ctx; project: Project; conversationId?: string }): JSX.Element {
  const { project } = props;
  const conversations = useLoad(
    () => get<Page<Conversation>>(`/api/v1/projects/${project.id}/copilot/conversations?limit=50`),
    [project.id],
  );
  const [conversationId, setConversationId] = useState<string | undefined>(props.conversationId);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [question, setQuestion] = useState("");
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const [length, setLength] = useState(256);
  const [opened, setOpened] = useState<{ citation: Citation; question: string } | null>(null);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => {
    setConversationId(props.conversationId);
    setTurns([]);
    if (!props.conversationId) return;
    get<Conversation>(`/api/v1/conversations/${props.conversationId}`).then(
      (c) => {
        let last = "";
        setTurns(
          c.messages.map((m) => {
            if (m.role === "user") last = m.content;
            return { role: m.role === "user" ? "user" : "assistant", text: m.content, citations: m.citations ?? [], question: last };
          }),
        );
      },
      (e: Error) => setError(e),
    );
  }, [props.conversationId]);
  useEffect(() => () => abort.current?.abort(), []);

  const send = async (e: Event) => {
    e.preventDefault();
    const q = question.trim();
    if (!q) return;
    setQuestion("");
    setError(undefined);
    setBusy(true);
    const answer: Turn = { role: "assistant", text: "", citations: [], question: q, streaming: true };
    setTurns((t) => [...t, { role: "user", text: q, citations: [] }, answer]);
    const update = (f: (t: Turn) => Turn) => setTurns((all) => [...all.slice(0, -1), f(all[all.length - 1])]);
    abort.current = new AbortController();
    let newConversation: string | undefined;
    try {
      await stream(
        `/api/v1/projects/${project.id}/copilot/chat`,
        { messages: [{ role: "user", content: q }], conversation_id: conversationId ?? null, max_tokens: length, stream: true },
        (type, data) => {
          if (type === "conversation") newConversation = String(data.conversation_id);
          else if (type === "citations") update((t) => ({ ...t, citations: data.citations as Citation[] }));
          else if (type === "token") update((t) => ({ ...t, text: t.text + String(data.text ?? "") }));
          else if (type === "blocked")
            update((t) => ({ ...t, blocked: data as unknown as Turn["blocked"], streaming: false }));
          else if (type === "error") setError(new ApiError(500, String(data.error ?? "error"), String(data.detail ?? "the answer failed")));
          else if (type === "done") update((t) => ({ ...t, streaming: false }));
        },
        abort.current.signal,
      );
    } catch (err) {
      if (err instanceof ApiError && err.code === "guardrail_blocked") {
        update((t) => ({ ...t, blocked: { stage: "input", detectors: [], detail: err.message }, streaming: false }));
      } else if ((err as Error).name !== "AbortError") setError(err as Error);
    } finally {
      update((t) => ({ ...t, streaming: false }));
      setBusy(false);
      if (newConversation && newConversation !== conversationId) {
        setConversationId(newConversation);
        history.replaceState(null, "", `/console/projects/${project.id}/chat/${newConversation}`);
        conversations.reload();
      }
    }
  };

  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link to="/">Projects</Link> / <Link to={"/projects/" + project.id}>{project.name}</Link> / <span>Copilot</span>
      </nav>
      <PageHead title="Copilot chat">
        <button
          type="button"
          onClick={() => {
            // the URL may already read .../chat (a new conversation's id is set with replaceState)
            abort.current?.abort();
            setConversationId(undefined);
            setTurns([]);
            setError(undefined);
            navigate(`/projects/${project.id}/chat`);
          }}
        >
          New conversation
        </button>
      </PageHead>
      <div class="chat">
        <aside aria-label="Conversations" class="conversations">
          <h2>Conversations</h2>
          <Async state={conversations} what="conversations">
            {(page) =>
              page.items.length === 0 ? (
                <Empty>None yet.</Empty>
              ) : (
                <ul>
                  {page.items.map((c) => (
                    <li key={c.id} class={c.id === conversationId ? "active" : undefined}>
                      <Link to={`/projects/${project.id}/chat/${c.id}`}>{c.title || "Untitled"}</Link>
                      <span class="muted small"> {when(c.created_at)}</span>
                    </li>
                  ))}
                </ul>
              )
            }
          </Async>
        </aside>
        <div class="thread">
          <ol class="turns" data-testid="turns" aria-live="polite">
            {turns.length === 0 && <Empty>Ask a question about this project's documents.</Empty>}
            {turns.map((t, i) => (
              <li key={i} class={"turn " + t.role}>
                <span class="visually-hidden">{t.role === "user" ? "You:" : "Copilot:"}</span>
                <p class="text" data-testid={t.role === "assistant" ? "answer" : "question"}>
                  {t.text}
                  {t.streaming && <span class="cursor" aria-hidden="true">▍</span>}
                </p>
                {t.blocked && (
                  <p class="verdict blocked" data-testid="blocked" role="alert">
                    Blocked by guardrails at the {t.blocked.stage} stage
                    {t.blocked.detectors.length ? ": " + t.blocked.detectors.join(", ") : ""}
                  </p>
                )}
                {t.role === "assistant" && !t.streaming && redactions(t.text).length > 0 && (
                  <p class="verdict redacted" data-testid="redacted">
                    Redacted by guardrails: {redactions(t.text).join(", ")}
                  </p>
                )}
                {t.citations.length > 0 && (
                  <ul class="chips" aria-label="Citations">
                    {t.citations.map((c) => (
                      <li key={c.chunk_id}>
                        <button type="button" class="chip" data-testid="citation" onClick={() => setOpened({ citation: c, question: t.question ?? "" })}>
                          [{c.index}] {c.document_name}
                        </button>
                      </li>
                    ))}
                  </ul>
                )}
              </li>
            ))}
          </ol>
          <ErrorBox error={error} />
          <form class="ask" onSubmit={send}>
            <label for="question" class="visually-hidden">
              Your question
            </label>
            <textarea
              id="question"
              rows={2}
              placeholder="Ask the copilot…"
              value={question}
              onInput={(e) => setQuestion((e.target as HTMLTextAreaElement).value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) send(e);
              }}
            />
            <label>
              Answer length{" "}
              <select value={length} onChange={(e) => setLength(Number((e.target as HTMLSelectElement).value))}>
                <option value={64}>short</option>
                <option value={256}>normal</option>
                <option value={1024}>long</option>
              </select>
            </label>
            <button type="submit" disabled={busy || !question.trim()}>
              {busy ? "Answering…" : "Send"}
            </button>
          </form>
        </div>
      </div>
      {opened && <Passage citation={opened.citation} question={opened.question} onClose={() => setOpened(null)} />}
    </section>
  );
}

/** The cited passage: found again by searching the document's collection for the question and
 * picking the cited chunk (the API has no chunk endpoint; search returns chunk text). */
function Passage(props: { citation: Citation; question: string; onClose: () => void }): JSX.Element {
  const { citation } = props;
  const state = useLoad(async () => {
    const doc = await get<Doc>(`/api/v1/documents/${citation.document_id}`);
    const r = await post<{ hits: SearchHit[] }>(`/api/v1/collections/${doc.collection_id}/search`, {
      query: props.question || citation.document_name,
      mode: "hybrid",
      top_k: 50,
    });
    return { doc, hit: r.hits.find((h) => h.chunk_id === citation.chunk_id) ?? null };
  }, [citation.chunk_id]);
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => close.current?.focus(), []);
  return (
    <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="passage-title" onKeyDown={(e) => e.key === "Escape" && props.onClose()}>
      <div class="panel">
        <h2 id="passage-title">
          [{citation.index}] {citation.document_name}, chunk {citation.chunk_index}
        </h2>
        <Async state={state} what="the passage">
          {({ doc, hit }) => (
            <>
              {hit ? <p class="passage" data-testid="passage">{hit.text}</p> : <Empty>The passage is no longer in the index.</Empty>}
              <p class="small">
                Score {citation.score.toFixed(3)} · <Link to={"/collections/" + doc.collection_id}>Open the collection</Link>
              </p>
            </>
          )}
        </Async>
        <button type="button" ref={close} onClick={props.onClose}>
          Close
        </button>
      </div>
    </div>
  );
}
