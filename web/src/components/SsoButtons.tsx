/**
 * One button per single sign-on provider the server has configured. Each is a
 * plain link to `/api/v1/auth/oidc/{name}/login?return_to=/login`: the browser
 * leaves for the provider and comes back through the server's callback, which
 * sends it to `/login` with the tokens in the fragment (`state/ssoReturn.ts`).
 */
import type { SsoProvider } from "../api/types";
import { SSO_RETURN_PATH } from "../state/ssoReturn";

export function ssoLoginUrl(name: string): string {
  const back = encodeURIComponent(SSO_RETURN_PATH);
  return `/api/v1/auth/oidc/${encodeURIComponent(name)}/login?return_to=${back}`;
}

export function SsoButtons({ providers }: { providers: readonly SsoProvider[] }) {
  if (!providers.length) return null;
  return (
    <div className="sso" data-testid="sso">
      <div className="sso-divider"><span>or</span></div>
      {providers.map((p) => (
        <a key={p.name} className="btn btn-block sso-btn" href={ssoLoginUrl(p.name)} data-provider={p.name}>
          Continue with {p.label}
        </a>
      ))}
    </div>
  );
}
