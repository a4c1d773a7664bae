import { render } from "preact";
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, clearKey, get, getKey, type Me, setKey, setOnUnauthorized } from "./api";
import { match, navigate, usePath, UUID } from "./router";
import { ErrorBox, Link, Loading, NotFound } from "./ui";
import { ProjectPage, ProjectsPage } from "./pages/projects";
import { CollectionPage } from "./pages/collection";
import { ChatPage } from "./pages/chat";
import { RunPage, RunsPage } from "./pages/runs";
import { TrainingPage } from "./pages/training";
import { EndpointPage, RolloutPage, RolloutsPage } from "./pages/rollouts";
import { AgentTestRunPage, AgentTestsPage } from "./pages/agent_tests";
import { ExperimentPage } from "./pages/experiment";
import { ObservabilityPage } from "./pages/observability";
import { AuditPage } from "./pages/audit";
import { SettingsPage } from "./pages/settings";
import "./style.css";

export interface Ctx {
  me: Me;
  can: (permission: string) => boolean;
  dashboardUrl?: string | null;
}

const NAV: { to: string; label: string; needs?: string }[] = [
  { to: "/", label: "Projects", needs: "project:read" },
  { to: "/runs", label: "Runs", needs: "run:read" },
  { to: "/training", label: "Training", needs: "experiment:read" },
  { to: "/agent-tests", label: "Agent tests", needs: "agenttest:read" },
  { to: "/rollouts", label: "Rollouts", needs: "endpoint:read" },
  { to: "/observability", label: "Observability", needs: "observability:read" },
  { to: "/audit", label: "Audit", needs: "audit:read" },
  { to: "/settings", label: "Settings" },
];

function SignIn(props: { onSignedIn: (me: Me) => void; reason?: string }): JSX.Element {
  const [key, setValue] = useState("");
  const [error, setError] = useState<Error | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setKey(key.trim());
    try {
      props.onSignedIn(await get<Me>("/api/v1/me"));
    } catch (err) {
      clearKey();
      setError(err instanceof ApiError && err.status === 401 ? new Error("That API key was not accepted.") : (err as Error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Raylane console</h1>
        <p>Sign in with an API key. It stays in this browser tab only and is sent as a header on each request.</p>
        {props.reason && <p class="state">{props.reason}</p>}
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy || !key.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <ErrorBox error={error} />
      </form>
    </main>
  );
}

function Routes(props: { ctx: Ctx; path: string }): JSX.Element {
  const { ctx, path } = props;
  let m: Record<string, string> | null;
  const id = (p: Record<string, string>, ...names: string[]) => names.every((n) => UUID.test(p[n]));
  if (path === "/" || path === "/projects") return <ProjectsPage ctx={ctx} />;
  if ((m = match("/projects/:id", path)) && id(m, "id")) return <ProjectPage ctx={ctx} projectId={m.id} />;
  if ((m = match("/projects/:id/chat", path)) && id(m, "id")) return <ChatPage ctx={ctx} projectId={m.id} />;
  if ((m = match("/projects/:id/chat/:cid", path)) && id(m, "id", "cid"))
    return <ChatPage ctx={ctx} projectId={m.id} conversationId={m.cid} />;
  if ((m = match("/collections/:id", path)) && id(m, "id")) return <CollectionPage ctx={ctx} collectionId={m.id} />;
  if (path === "/runs") return <RunsPage ctx={ctx} />;
  if ((m = match("/runs/:id", path)) && id(m, "id")) return <RunPage ctx={ctx} runId={m.id} />;
  if (path === "/training") return <TrainingPage ctx={ctx} />;
  if ((m = match("/training/experiments/:id", path)) && id(m, "id")) return <ExperimentPage ctx={ctx} experimentId={m.id} />;
  if (path === "/agent-tests") return <AgentTestsPage ctx={ctx} />;
  if ((m = match("/agent-tests/runs/:id", path)) && id(m, "id")) return <AgentTestRunPage ctx={ctx} runId={m.id} />;
  if (path === "/rollouts") return <RolloutsPage ctx={ctx} />;
  if ((m = match("/rollouts/endpoints/:id", path)) && id(m, "id")) return <EndpointPage ctx={ctx} endpointId={m.id} />;
  if ((m = match("/rollouts/:id", path)) && id(m, "id")) return <RolloutPage ctx={ctx} rolloutId={m.id} />;
  if (path === "/observability") return <ObservabilityPage ctx={ctx} />;
  if (path === "/audit") return <AuditPage ctx={ctx} />;
  if (path === "/settings" || (m = match("/settings/:tab", path))) return <SettingsPage ctx={ctx} tab={m?.tab ?? "keys"} />;
  return <NotFound />;
}

function App(): JSX.Element {
  const path = usePath();
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(!!getKey());
  const [reason, setReason] = useState<string | undefined>();
  const [error, setError] = useState<Error | undefined>();

  useEffect(() => {
    setOnUnauthorized(() => {
      clearKey();
      setMe(null);
      setReason("Your session ended (the key was revoked or expired). Sign in again.");
    });
    if (getKey()) {
      get<Me>("/api/v1/me").then(
        (m) => {
          setMe(m);
          setChecking(false);
        },
        (e: Error) => {
          if (!(e instanceof ApiError && e.status === 401)) setError(e);
          setChecking(false);
        },
      );
    }
  }, []);
  // Move focus to the page title on navigation, for keyboard and screen-reader users.
  useEffect(() => {
    document.getElementById("page-title")?.focus();
  }, [path]);

  if (checking) return <Loading what="your session" />;
  if (error) return <ErrorBox error={error} />;
  if (!me)
    return (
      <SignIn
        reason={reason}
        onSignedIn={(m) => {
          setReason(undefined);
          setMe(m);
        }}
      />
    );
  const perms = new Set(me.permissions);
  const ctx: Ctx = { me, can: (p) => perms.has(p), dashboardUrl: me.ray_dashboard_url };
  const active = (to: string) => (to === "/" ? path === "/" || path.startsWith("/projects") || path.startsWith("/collections") : path.startsWith(to));
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Raylane</span>
        <span class="who" data-testid="who">
          {me.email} · {me.organization.name} · <span data-testid="role">{me.role}</span>
        </span>
        <button
          class="link"
          type="button"
          onClick={() => {
            clearKey();
            setMe(null);
            navigate("/");
          }}
        >
          Sign out
        </button>
      </header>
      <nav aria-label="Main">
        <ul>
          {NAV.filter((n) => !n.needs || ctx.can(n.needs)).map((n) => (
            <li key={n.to}>
              <Link to={n.to} class={active(n.to) ? "active" : undefined}>
                {n.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Routes ctx={ctx} path={path} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
