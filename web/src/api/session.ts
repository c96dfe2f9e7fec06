/**
 * The signed-in session: tokens in localStorage so a reload keeps the user signed
 * in, and one shared refresh so that concurrent 401s rotate the refresh token
 * once (the server treats reuse of a rotated refresh token as theft).
 */
import type { Tokens } from "./types";

const KEY = "taskhive.session";

export interface Session {
  access_token: string;
  refresh_token: string;
}

type Listener = (session: Session | null) => void;
const listeners = new Set<Listener>();

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function saveSession(tokens: Tokens | Session | null): void {
  if (tokens === null) localStorage.removeItem(KEY);
  else
    localStorage.setItem(
      KEY,
      JSON.stringify({ access_token: tokens.access_token, refresh_token: tokens.refresh_token }),
    );
  const now = loadSession();
  listeners.forEach((l) => l(now));
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

let refreshing: Promise<Session | null> | null = null;

/** Exchange the refresh token for a new pair; null (and signed out) when refused. */
export function refreshSession(): Promise<Session | null> {
  if (refreshing) return refreshing;
  const current = loadSession();
  if (!current) return Promise.resolve(null);
  refreshing = fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: current.refresh_token }),
  })
    .then(async (r) => {
      if (!r.ok) {
        saveSession(null);
        return null;
      }
      const tokens = (await r.json()) as Tokens;
      saveSession(tokens);
      return loadSession();
    })
    .catch(() => null)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}
