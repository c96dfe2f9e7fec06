/** Routes, the signed-in shell, and the keyboard layer shared by every screen. */
import { useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useState, useSyncExternalStore } from "react";
import { Link, Navigate, NavLink, Route, Routes, useLocation, useNavigate, useParams } from "react-router-dom";
import { api, describe } from "./api/client";
import { keys, useMe, useMembers, useOrgs, useProject } from "./api/queries";
import { loadSession, onSessionChange, saveSession } from "./api/session";
import { Avatar } from "./components/Avatar";
import { Bell } from "./components/Bell";
import { Logo, SearchIcon } from "./components/icons";
import { Palette } from "./components/Palette";
import { ShortcutHelp } from "./components/ShortcutHelp";
import { toast, Toasts } from "./components/toast";
import { live } from "./realtime/live";
import { LoginScreen, SignupScreen } from "./screens/Auth";
import { BacklogScreen } from "./screens/Backlog";
import { BoardScreen } from "./screens/Board";
import { AcceptInvitationScreen } from "./screens/Invitation";
import { ListScreen } from "./screens/List";
import { ProjectsScreen } from "./screens/Projects";
import { SettingsScreen } from "./screens/Settings";
import { TaskPage } from "./screens/TaskDetail";
import { isTyping } from "./state/keys";

// Charts are the heaviest dependency: load them only when the reports page opens.
const ReportsScreen = lazy(() => import("./screens/Reports").then((m) => ({ default: m.ReportsScreen })));

function useSignedIn(): boolean {
  return useSyncExternalStore(onSessionChange, () => loadSession() !== null);
}

export function App() {
  const signedIn = useSignedIn();
  const location = useLocation();
  if (!signedIn) {
    return (
      <>
        <Routes>
          <Route path="/signup" element={<SignupScreen />} />
          <Route path="/login" element={<LoginScreen />} />
          <Route path="/invitations/accept" element={<AcceptInvitationScreen />} />
          <Route path="*" element={<Navigate to="/login" replace state={{ from: location.pathname + location.search }} />} />
        </Routes>
        <Toasts />
      </>
    );
  }
  return <Shell />;
}

function Shell() {
  const me = useMe();
  useMembers();
  const orgs = useOrgs();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [palette, setPalette] = useState(false);
  const [help, setHelp] = useState(false);

  useEffect(() => {
    live.start();
    const off = live.onNotification(() => {
      void queryClient.invalidateQueries({ queryKey: keys.notifications });
    });
    return () => {
      off();
      live.stop();
    };
  }, [queryClient]);

  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if ((e.metaKey || e.ctrlKey) && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setPalette((v) => !v);
        return;
      }
      if (isTyping(e) || e.metaKey || e.ctrlKey || e.altKey) return;
      if (e.key === "/") {
        e.preventDefault();
        setPalette(true);
      } else if (e.key === "?") {
        e.preventDefault();
        setHelp((v) => !v);
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  async function switchOrg(orgId: string) {
    try {
      const tokens = await api<{ access_token: string; refresh_token: string }>("/api/v1/auth/switch-org", {
        method: "POST",
        body: { org_id: orgId },
      });
      live.stop();
      saveSession(tokens);
      queryClient.clear();
      navigate("/projects");
      live.start();
    } catch (error) {
      toast("error", "Could not switch organisation", describe(error));
    }
  }

  async function signOut() {
    const session = loadSession();
    if (session) {
      await api("/api/v1/auth/logout", { method: "POST", body: { refresh_token: session.refresh_token } }).catch(() => undefined);
    }
    saveSession(null);
    queryClient.clear();
    navigate("/login");
  }

  return (
    <div className="app">
      <header className="topbar">
        <Link to="/projects" className="brand" aria-label="Taskhive home">
          <Logo />
          <span>Taskhive</span>
        </Link>
        <Routes>
          <Route path="/projects/:projectId/*" element={<ProjectNav />} />
          <Route path="*" element={<span className="crumb-spacer" />} />
        </Routes>
        <div className="topbar-right">
          <button className="search-btn" onClick={() => setPalette(true)} aria-label="Search (Ctrl K)">
            <SearchIcon />
            <span className="search-label">Search</span>
            <kbd>⌘K</kbd>
          </button>
          <Bell />
          <details className="menu">
            <summary aria-label="Account menu">
              <Avatar userId={me.data?.id ?? null} size={28} />
            </summary>
            <div className="menu-pop">
              <div className="menu-head">
                <strong>{me.data?.name}</strong>
                <span>{me.data?.email}</span>
                <span className="muted">Role: {me.data?.role}</span>
              </div>
              {(orgs.data?.items.length ?? 0) > 1 && (
                <div className="menu-orgs" role="group" aria-label="Organisations">
                  <span className="muted small">Organisations</span>
                  {orgs.data!.items.map((o) => {
                    const id = o.id ?? o.org_id ?? "";
                    const current = id === orgs.data!.current_org_id;
                    return (
                      <button key={id} disabled={current} onClick={() => void switchOrg(id)}>
                        {o.name} {current && <span className="muted small">· current</span>}
                      </button>
                    );
                  })}
                </div>
              )}
              <button onClick={() => setHelp(true)}>Keyboard shortcuts</button>
              <button onClick={signOut}>Sign out</button>
            </div>
          </details>
        </div>
      </header>
      <main className="main">
        <Routes>
          <Route path="/" element={<Navigate to="/projects" replace />} />
          <Route path="/login" element={<Navigate to="/projects" replace />} />
          <Route path="/signup" element={<Navigate to="/projects" replace />} />
          <Route path="/projects" element={<ProjectsScreen />} />
          <Route path="/projects/:projectId" element={<Navigate to="board" replace />} />
          <Route path="/projects/:projectId/board" element={<BoardScreen />} />
          <Route path="/projects/:projectId/list" element={<ListScreen />} />
          <Route path="/projects/:projectId/backlog" element={<BacklogScreen />} />
          <Route
            path="/projects/:projectId/reports"
            element={
              <Suspense fallback={<div className="page"><div className="skeleton" style={{ height: 240 }} /></div>}>
                <ReportsScreen />
              </Suspense>
            }
          />
          <Route path="/projects/:projectId/settings" element={<SettingsScreen />} />
          <Route path="/tasks/:taskRef" element={<TaskPage />} />
          <Route path="/invitations/accept" element={<AcceptInvitationScreen />} />
          <Route path="*" element={<NotFound />} />
        </Routes>
      </main>
      {palette && <Palette onClose={() => setPalette(false)} />}
      {help && <ShortcutHelp onClose={() => setHelp(false)} />}
      <Toasts />
    </div>
  );
}

function ProjectNav() {
  const { projectId = "" } = useParams();
  const project = useProject(projectId);
  const tabs = [
    ["board", "Board"],
    ["list", "List"],
    ["backlog", "Backlog"],
    ["reports", "Reports"],
    ["settings", "Settings"],
  ];
  return (
    <nav className="project-nav" aria-label="Project views">
      <Link to="/projects" className="crumb muted">Projects</Link>
      <span className="crumb-sep">/</span>
      <span className="crumb-project">
        {project.data && <span className="key-pill">{project.data.key}</span>}
        <span className="crumb-name">{project.data?.name ?? "…"}</span>
      </span>
      <div className="tabs" role="tablist">
        {tabs.map(([path, label]) => (
          <NavLink key={path} to={`/projects/${projectId}/${path}`} className="tab" role="tab">
            {label}
          </NavLink>
        ))}
      </div>
    </nav>
  );
}

function NotFound() {
  return (
    <div className="empty-page">
      <h1>Nothing here</h1>
      <p className="muted">This page does not exist, or you cannot see it.</p>
      <Link to="/projects" className="btn">Back to projects</Link>
    </div>
  );
}
