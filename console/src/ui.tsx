import type { ComponentChildren, JSX } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";
import { BASE, navigate } from "./router";

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Load once per `deps` change; `reload()` loads again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error: Error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export function Link(props: { to: string; children: ComponentChildren; class?: string }): JSX.Element {
  return (
    <a
      href={BASE + props.to}
      class={props.class}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}

export function Loading(props: { what?: string }): JSX.Element {
  return (
    <p class="state loading" role="status" aria-live="polite">
      Loading{props.what ? " " + props.what : ""}…
    </p>
  );
}

export function Empty(props: { children: ComponentChildren }): JSX.Element {
  return <p class="state empty">{props.children}</p>;
}

export function NotFound(): JSX.Element {
  return (
    <section class="notfound" data-testid="not-found">
      <h1>Not found</h1>
      <p>This page does not exist, or it is not in your organization.</p>
      <Link to="/">Back to projects</Link>
    </section>
  );
}

export function ErrorBox(props: { error: Error | undefined }): JSX.Element | null {
  const e = props.error;
  if (!e) return null;
  const code = e instanceof ApiError ? e.code : "error";
  return (
    <div class="state error" role="alert">
      <strong>{code === "forbidden" || (e instanceof ApiError && e.status === 403) ? "Not allowed" : "Something went wrong"}</strong>{" "}
      <span>{e.message}</span>
    </div>
  );
}

/** The three states of a load, then the content; a 404 renders the shared not-found page. */
export function Async<T>(props: { state: Loaded<T>; what?: string; children: (data: T) => ComponentChildren }): JSX.Element {
  const { data, error, loading } = props.state;
  if (error instanceof ApiError && error.notFound) return <NotFound />;
  if (error) return <ErrorBox error={error} />;
  if (loading && data === undefined) return <Loading what={props.what} />;
  return <>{data !== undefined ? props.children(data) : null}</>;
}

export function Status(props: { value: string }): JSX.Element {
  return <span class={"badge s-" + props.value.replace(/[^a-z_]/g, "")}>{props.value.replace(/_/g, " ")}</span>;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString();
}

export function bytes(n: number): string {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

export function PageHead(props: { title: string; children?: ComponentChildren }): JSX.Element {
  return (
    <header class="pagehead">
      <h1 tabIndex={-1} id="page-title">
        {props.title}
      </h1>
      <div class="actions">{props.children}</div>
    </header>
  );
}
