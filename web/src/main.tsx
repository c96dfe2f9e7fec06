import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { App } from "./App";
import { ApiError } from "./api/client";
import { saveSession } from "./api/session";
import { keepSsoError, readSsoFragment } from "./state/ssoReturn";
import "./styles.css";

// Back from single sign-on: keep the session (or the reason it was refused for
// the log-in screen) and take the fragment out of the address bar and history.
const sso = readSsoFragment(window.location.hash);
if (sso) {
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  if ("tokens" in sso) saveSession(sso.tokens);
  else keepSsoError(sso.error);
}

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
    },
  },
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <App />
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
