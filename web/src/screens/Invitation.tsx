/**
 * `/invitations/accept?token=…`, the link an invitation email carries
 * (`serve_app/routes/invitations.py`). Someone without an account chooses a
 * name and password; someone with one logs in first (the API answers 401 until
 * they are signed in as the invited address) and then accepts. Either way the
 * answer is a token pair for the organisation joined.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useSearchParams } from "react-router-dom";
import { api, ApiError, describe } from "../api/client";
import { loadSession, saveSession } from "../api/session";
import type { Tokens } from "../api/types";
import { live } from "../realtime/live";
import { AuthCard } from "./Auth";

export function AcceptInvitationScreen() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const location = useLocation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const signedIn = loadSession() !== null;
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const here = `${location.pathname}${location.search}`;

  async function accept(e?: FormEvent) {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = signedIn ? { token } : { token, name: name.trim(), password };
      const tokens = await api<Tokens>("/api/v1/invitations/accept", { method: "POST", body });
      // The new tokens are for the organisation just joined.
      live.stop();
      saveSession(tokens);
      queryClient.clear();
      navigate("/projects", { replace: true });
      if (signedIn) live.start();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (!token) {
    return (
      <AuthCard title="Invitation" subtitle="This link has no invitation token.">
        <p className="muted">Open the link from the invitation email again, or ask for a new invitation.</p>
      </AuthCard>
    );
  }

  // 401: the invited address has an account and this browser is not signed in as it.
  const mustLogIn = error instanceof ApiError && error.status === 401;
  return (
    <AuthCard title="Join the organisation" subtitle="You were invited to a Taskhive organisation.">
      {signedIn ? (
        <div className="form">
          <p className="muted">Accept to join with the account you are signed in as. The invitation works once.</p>
          {error != null && <div className="form-error" role="alert">{describe(error)}</div>}
          <button className="btn btn-primary btn-block" disabled={busy} onClick={() => void accept()}>
            {busy ? "Joining…" : "Accept invitation"}
          </button>
        </div>
      ) : (
        <form className="form" onSubmit={accept} aria-label="Accept invitation">
          <p className="muted small">New to Taskhive? Choose your name and a password for the invited email address.</p>
          <label>
            Your name
            <input name="name" autoComplete="name" required value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            Password
            <input name="password" type="password" autoComplete="new-password" minLength={8} required value={password} onChange={(e) => setPassword(e.target.value)} />
            <span className="hint">At least 8 characters.</span>
          </label>
          {error != null && (
            <div className="form-error" role="alert">
              {mustLogIn ? "This email already has an account: log in, then open the link again." : describe(error)}
            </div>
          )}
          <button className="btn btn-primary btn-block" disabled={busy}>
            {busy ? "Joining…" : "Create account and join"}
          </button>
        </form>
      )}
      {!signedIn && (
        <p className="auth-switch">
          Already have an account?{" "}
          <Link to="/login" state={{ from: here }}>
            Log in to accept
          </Link>
        </p>
      )}
    </AuthCard>
  );
}
