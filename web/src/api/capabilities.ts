/**
 * What this server offers, read once from its OpenAPI document, so screens use
 * endpoints that are still being added (filter language, search, reports) when
 * present and fall back quietly when not.
 */
import { useQuery } from "@tanstack/react-query";

interface OpenApi {
  paths: Record<string, Record<string, { parameters?: { name: string }[] }>>;
}

export interface Capabilities {
  hasPath(path: string): boolean;
  hasParam(path: string, method: string, name: string): boolean;
  paths: string[];
}

export function useCapabilities() {
  return useQuery({
    queryKey: ["capabilities"],
    staleTime: Infinity,
    queryFn: async (): Promise<Capabilities> => {
      const r = await fetch("/openapi.json");
      const doc: OpenApi = r.ok ? await r.json() : { paths: {} };
      return {
        paths: Object.keys(doc.paths),
        hasPath: (path) => path in doc.paths,
        hasParam: (path, method, name) => (doc.paths[path]?.[method]?.parameters ?? []).some((p) => p.name === name),
      };
    },
  });
}
