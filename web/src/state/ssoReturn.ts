/**
 * The end of a browser single sign-on: the server's callback redirects to
 * `/login#access_token=…&refresh_token=…` (or `#error=…`). The fragment never
 * reaches a server; it is read once and removed from the address bar.
 */
import type { Session } from "../api/session";

export type SsoResult = { tokens: Session } | { error: string };

/** Where the callback should send the browser back to. */
export const SSO_RETURN_PATH = "/login";

/** What a callback fragment says, or null when it is not one. */
export function readSsoFragment(hash: string): SsoResult | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const access = params.get("access_token");
  const refresh = params.get("refresh_token");
  if (access && refresh) return { tokens: { access_token: access, refresh_token: refresh } };
  const error = params.get("error");
  if (error) return { error };
  return null;
}

const ERROR_KEY = "taskhive.sso_error";

/** Keep a refusal for the log-in screen (it shows it once). */
export function keepSsoError(reason: string): void {
  sessionStorage.setItem(ERROR_KEY, reason);
}

/** The kept refusal, removed as it is read; null when there is none (or no storage). */
export function takeSsoError(): string | null {
  if (typeof sessionStorage === "undefined") return null;
  const reason = sessionStorage.getItem(ERROR_KEY);
  sessionStorage.removeItem(ERROR_KEY);
  return reason;
}
