import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { type AuditEvent, get, type Page, qs } from "../api";
import type { Ctx } from "../main";
import { Async, Empty, ErrorBox, PageHead, useLoad, when } from "../ui";

interface Verify {
  ok: boolean;
  checked: number;
  first_broken_seq: number | null;
  reason: string | null;
}

export function AuditPage(props: { ctx: Ctx }): JSX.Element {
  void props;
  const [filters, setFilters] = useState({ action: "", target_type: "", since: "" });
  const [draft, setDraft] = useState(filters);
  const [more, setMore] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<Error | undefined>();
  const query = () =>
    qs({
      limit: 50,
      action: filters.action,
      target_type: filters.target_type,
      since: filters.since ? new Date(filters.since + "T00:00:00Z").toISOString() : "",
    });
  const events = useLoad(async () => {
    const page = await get<Page<AuditEvent>>("/api/v1/audit/events" + query());
    setMore([]);
    setCursor(page.next_cursor);
    return page;
  }, [filters]);
  const verify = useLoad(() => get<Verify>("/api/v1/audit/verify"), []);
  const loadMore = async () => {
    try {
      const page = await get<Page<AuditEvent>>("/api/v1/audit/events" + query() + "&cursor=" + encodeURIComponent(cursor ?? ""));
      setMore((m) => [...m, ...page.items]);
      setCursor(page.next_cursor);
    } catch (err) {
      setMoreError(err as Error);
    }
  };
  const field = (name: keyof typeof draft, label: string, type = "text", placeholder = "") => (
    <label>
      {label}{" "}
      <input
        type={type}
        name={name}
        placeholder={placeholder}
        value={draft[name]}
        onInput={(e) => setDraft({ ...draft, [name]: (e.target as HTMLInputElement).value })}
      />
    </label>
  );
  return (
    <section>
      <PageHead title="Audit log" />
      <div class="panel" data-testid="verify" aria-live="polite">
        <Async state={verify} what="the chain check">
          {(v) =>
            v.ok ? (
              <p class="ok">Hash chain verified: {v.checked} events, unbroken.</p>
            ) : (
              <p class="state error">
                Hash chain broken at event #{v.first_broken_seq}: {v.reason}
              </p>
            )
          }
        </Async>
      </div>
      <form
        class="row filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
      >
        {field("action", "Action", "text", "project.* or api_key.create")}
        {field("target_type", "Target type", "text", "project")}
        {field("since", "Since", "date")}
        <button type="submit">Filter</button>
      </form>
      <Async state={events} what="audit events">
        {(page) =>
          page.items.length === 0 ? (
            <Empty>No audit events match.</Empty>
          ) : (
            <>
              <table data-testid="audit">
                <thead>
                  <tr>
                    <th scope="col">#</th>
                    <th scope="col">When</th>
                    <th scope="col">Action</th>
                    <th scope="col">Target</th>
                    <th scope="col">Actor</th>
                    <th scope="col">Summary</th>
                  </tr>
                </thead>
                <tbody>
                  {[...page.items, ...more].map((e) => (
                    <tr key={e.id}>
                      <td>{e.seq}</td>
                      <td>{when(e.created_at)}</td>
                      <td>
                        <code>{e.action}</code>
                      </td>
                      <td>
                        {e.target_type} <span class="muted small">{e.target_id}</span>
                      </td>
                      <td>
                        {e.actor_type} <span class="muted small">{e.actor_id ? e.actor_id.slice(0, 8) : ""}</span>
                      </td>
                      <td class="summary">{JSON.stringify(e.summary)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {cursor && (
                <button type="button" onClick={loadMore}>
                  Load more
                </button>
              )}
              <ErrorBox error={moreError} />
            </>
          )
        }
      </Async>
    </section>
  );
}
