/** Sign up and log in. Errors show the server's own words (problem+json `detail`). */
import { useState, type FormEvent, type ReactNode } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { api, ApiError, describe } from "../api/client";
import { saveSession } from "../api/session";
import type { SignupOut, Tokens } from "../api/types";
import { Logo } from "../components/icons";
import { learn } from "../state/people";

function AuthCard({ title, subtitle, children }: { title: string; subtitle: string; children: ReactNode }) {
  return (
    <div className="auth-page">
      <div className="auth-card">
        <div className="auth-brand">
          <Logo />
          <span>Taskhive</span>
        </div>
        <h1>{title}</h1>
        <p className="muted">{subtitle}</p>
        {children}
      </div>
      <p className="auth-foot muted">Self-hosted, real-time task tracking for teams.</p>
    </div>
  );
}

function fieldError(error: unknown, field: string): string | null {
  if (!(error instanceof ApiError)) return null;
  const errors = (error.problem.errors ?? []) as { loc?: string[]; msg?: string }[];
  const hit = errors.find((e) => e.loc?.includes(field));
  return hit?.msg ?? null;
}

export function SignupScreen() {
  const navigate = useNavigate();
  const [form, setForm] = useState({ name: "", email: "", password: "", org_name: "" });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { ...form, org_name: form.org_name.trim() || undefined };
      const out = await api<SignupOut>("/api/v1/auth/signup", { method: "POST", body });
      learn({ id: out.user.id, name: out.user.name, email: out.user.email });
      saveSession(out);
      navigate("/projects", { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const set = (k: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement>) => setForm({ ...form, [k]: e.target.value });
  return (
    <AuthCard title="Create your workspace" subtitle="Start tracking work with your team in a minute.">
      <form onSubmit={submit} className="form" aria-label="Sign up">
        <label>
          Your name
          <input name="name" autoComplete="name" required value={form.name} onChange={set("name")} />
        </label>
        <label>
          Work email
          <input name="email" type="email" autoComplete="email" required value={form.email} onChange={set("email")} />
          {fieldError(error, "email") && <span className="field-error">{fieldError(error, "email")}</span>}
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="new-password" minLength={8} required value={form.password} onChange={set("password")} />
          <span className="hint">At least 8 characters.</span>
        </label>
        <label>
          Organisation
          <input name="org_name" placeholder="Acme Inc." value={form.org_name} onChange={set("org_name")} />
        </label>
        {error != null && !fieldError(error, "email") && <div className="form-error" role="alert">{describe(error)}</div>}
        <button className="btn btn-primary btn-block" disabled={busy}>
          {busy ? "Creating…" : "Create account"}
        </button>
      </form>
      <p className="auth-switch">
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </AuthCard>
  );
}

export function LoginScreen() {
  const navigate = useNavigate();
  const location = useLocation();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const from = (location.state as { from?: string } | null)?.from ?? "/projects";

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const tokens = await api<Tokens>("/api/v1/auth/login", { method: "POST", body: { email, password } });
      saveSession(tokens);
      navigate(from === "/login" ? "/projects" : from, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthCard title="Welcome back" subtitle="Log in to your workspace.">
      <form onSubmit={submit} className="form" aria-label="Log in">
        <label>
          Email
          <input name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error != null && <div className="form-error" role="alert">{describe(error)}</div>}
        <button className="btn btn-primary btn-block" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p className="auth-switch">
        New to Taskhive? <Link to="/signup">Create an account</Link>
      </p>
    </AuthCard>
  );
}
