/**
 * Sign up and log in: a button per single sign-on provider the server has, and
 * a second step for the authentication code when the account has two-factor
 * authentication on (the API answers 401 with `otp_required`). Errors show the
 * server's own words (problem+json `detail`).
 */
import { useState, type FormEvent, type ReactNode } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { api, ApiError, describe } from "../api/client";
import { useSsoProviders } from "../api/queries";
import { saveSession } from "../api/session";
import type { SignupOut, Tokens } from "../api/types";
import { Logo } from "../components/icons";
import { SsoButtons } from "../components/SsoButtons";
import { takeSsoError } from "../state/ssoReturn";
import { learn } from "../state/people";

export function AuthCard({ title, subtitle, children }: { title: string; subtitle: string; children: ReactNode }) {
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

/** True when the API refused a login only for want of a second factor. */
export function needsOtp(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401 && error.problem.otp_required === true;
}

export function LoginScreen() {
  const navigate = useNavigate();
  const location = useLocation();
  const sso = useSsoProviders();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [otp, setOtp] = useState("");
  // The code step: the password was right and the account has two-factor on.
  const [otpStep, setOtpStep] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // Why a single sign-on just came back refused (set once by main.tsx).
  const [ssoError] = useState(takeSsoError);
  const from = (location.state as { from?: string } | null)?.from ?? "/projects";

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = otpStep ? { email, password, otp: otp.trim() } : { email, password };
      const tokens = await api<Tokens>("/api/v1/auth/login", { method: "POST", body });
      saveSession(tokens);
      navigate(from === "/login" ? "/projects" : from, { replace: true });
    } catch (err) {
      if (needsOtp(err) && !otpStep) setOtpStep(true);
      else setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (otpStep) {
    return (
      <AuthCard title="Two-factor authentication" subtitle="Enter the 6-digit code from your authenticator app, or a recovery code.">
        <form onSubmit={submit} className="form" aria-label="Second factor">
          <label>
            Authentication code
            <input
              name="otp"
              autoComplete="one-time-code"
              inputMode="text"
              autoFocus
              required
              minLength={6}
              maxLength={32}
              pattern="[0-9A-Za-z -]+"
              value={otp}
              onChange={(e) => setOtp(e.target.value)}
            />
          </label>
          {error != null && (
            <div className="form-error" role="alert">
              {/* With a code sent, a 401 means the code was refused (the password was right). */}
              {error instanceof ApiError && error.status === 401 ? "That code is not valid or was already used." : describe(error)}
            </div>
          )}
          <button className="btn btn-primary btn-block" disabled={busy}>
            {busy ? "Checking…" : "Verify"}
          </button>
        </form>
        <p className="auth-switch">
          <button className="link" onClick={() => { setOtpStep(false); setOtp(""); setError(null); }}>Back to log in</button>
        </p>
      </AuthCard>
    );
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
        {error == null && ssoError && (
          <div className="form-error" role="alert">Single sign-on did not sign you in: {ssoError}</div>
        )}
        <button className="btn btn-primary btn-block" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <SsoButtons providers={sso.data ?? []} />
      <p className="auth-switch">
        New to Taskhive? <Link to="/signup">Create an account</Link>
      </p>
    </AuthCard>
  );
}
