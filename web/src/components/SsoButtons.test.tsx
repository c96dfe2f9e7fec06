import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { SsoButtons, ssoLoginUrl } from "./SsoButtons";

describe("SsoButtons", () => {
  it("links each configured provider to its login endpoint", () => {
    const html = renderToStaticMarkup(
      <SsoButtons providers={[{ name: "google", label: "Google" }, { name: "corp-sso", label: "Corp sso" }]} />,
    );
    expect(html).toContain('href="/api/v1/auth/oidc/google/login?return_to=%2Flogin"');
    expect(html).toContain(">Continue with Google</a>");
    expect(html).toContain('href="/api/v1/auth/oidc/corp-sso/login?return_to=%2Flogin"');
    expect(html).toContain(">Continue with Corp sso</a>");
    expect(html.match(/<a /g)).toHaveLength(2);
  });

  it("renders nothing when no provider is configured", () => {
    expect(renderToStaticMarkup(<SsoButtons providers={[]} />)).toBe("");
  });

  it("escapes a provider name in the URL", () => {
    expect(ssoLoginUrl("a b/c")).toBe("/api/v1/auth/oidc/a%20b%2Fc/login?return_to=%2Flogin");
  });
});
