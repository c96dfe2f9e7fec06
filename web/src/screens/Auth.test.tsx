import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { renderToStaticMarkup } from "react-dom/server";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { keys } from "../api/queries";
import type { SsoProvider } from "../api/types";
import { LoginScreen, needsOtp } from "./Auth";

function renderLogin(providers: SsoProvider[]): string {
  const client = new QueryClient();
  client.setQueryData(keys.ssoProviders, providers);
  return renderToStaticMarkup(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={["/login"]}>
        <LoginScreen />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("the log-in screen", () => {
  it("shows a button per configured single sign-on provider", () => {
    const html = renderLogin([{ name: "google", label: "Google" }]);
    expect(html).toContain('data-testid="sso"');
    expect(html).toContain('href="/api/v1/auth/oidc/google/login?return_to=%2Flogin"');
    expect(html).toContain("Continue with Google");
  });

  it("shows none when the server has no provider", () => {
    const html = renderLogin([]);
    expect(html).toContain('aria-label="Log in"');
    expect(html).not.toContain('data-testid="sso"');
  });
});

describe("needsOtp", () => {
  it("is true only for the 401 that asks for a second factor", () => {
    expect(needsOtp(new ApiError({ status: 401, detail: "needs a code", otp_required: true }))).toBe(true);
    expect(needsOtp(new ApiError({ status: 401, detail: "email or password is wrong" }))).toBe(false);
    expect(needsOtp(new ApiError({ status: 429, otp_required: true }))).toBe(false);
    expect(needsOtp(new Error("offline"))).toBe(false);
  });
});
