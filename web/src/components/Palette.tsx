/**
 * The search palette (Ctrl/Cmd-K or `/`): full-text search through
 * `GET /api/v1/search` (free text and filters, e.g. `login status:open`), merged
 * with keys and titles of recent tasks matched on the client (the index follows
 * changes a moment later, and a server may have no search) and project names.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { useNavigate } from "react-router-dom";
import { useCapabilities } from "../api/capabilities";
import { api } from "../api/client";
import { isMissing, keys } from "../api/queries";
import type { Page, Project, Task } from "../api/types";
import { SearchIcon } from "./icons";

interface Hit {
  id: string;
  kind: "task" | "project";
  label: string;
  sub: string;
  go: string;
}

let searchAvailable: boolean | null = null;

async function serverSearch(q: string): Promise<Hit[] | null> {
  if (searchAvailable === false) return null;
  try {
    const body = await api<{ items?: { task: Task }[] }>("/api/v1/search", { query: { q, limit: 20 } });
    searchAvailable = true;
    return (body.items ?? []).map(({ task: t }) => ({
      id: t.id,
      kind: "task",
      label: t.title,
      sub: t.key,
      go: `/projects/${t.project_id}/board?task=${t.key}`,
    }));
  } catch (error) {
    if (isMissing(error)) {
      searchAvailable = false;
      return null;
    }
    throw error;
  }
}

export function Palette({ onClose }: { onClose: () => void }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [q, setQ] = useState("");
  const [index, setIndex] = useState(0);
  const [remote, setRemote] = useState<Hit[] | null>(null);
  const caps = useCapabilities();
  const sorted = caps.data?.hasParam("/api/v1/tasks", "get", "filter") ?? false;
  const tasks = useQuery({
    queryKey: ["palette-tasks", sorted],
    enabled: caps.isSuccess,
    queryFn: async () => {
      const query = sorted ? { limit: 200, filter: "sort:updated-desc" } : { limit: 200 };
      return (await api<Page<Task>>("/api/v1/tasks", { query })).items;
    },
    staleTime: 15_000,
  });
  const projects = queryClient.getQueryData<Project[]>(keys.projects) ?? [];

  useEffect(() => {
    if (!q.trim()) return setRemote(null);
    const timer = window.setTimeout(() => {
      serverSearch(q.trim()).then(setRemote).catch(() => setRemote(null));
    }, 120);
    return () => window.clearTimeout(timer);
  }, [q]);

  const hits = useMemo<Hit[]>(() => {
    const needle = q.trim().toLowerCase();
    const projectHits: Hit[] = projects
      .filter((p) => !needle || p.name.toLowerCase().includes(needle) || p.key.toLowerCase().startsWith(needle))
      .slice(0, 4)
      .map((p) => ({ id: p.id, kind: "project", label: p.name, sub: p.key, go: `/projects/${p.id}/board` }));
    const local: Hit[] = (tasks.data ?? [])
      .filter((t) => !needle || t.title.toLowerCase().includes(needle) || t.key.toLowerCase().startsWith(needle))
      .slice(0, 12)
      .map((t) => ({ id: t.id, kind: "task", label: t.title, sub: t.key, go: `/projects/${t.project_id}/board?task=${t.key}` }));
    // The index answers a moment after a change; recent tasks matched here fill the gap.
    const found = remote ?? [];
    const seen = new Set(found.map((h) => h.id));
    return [...found, ...local.filter((h) => !seen.has(h.id)), ...projectHits].slice(0, 16);
  }, [q, remote, tasks.data, projects]);

  function go(hit: Hit | undefined) {
    if (!hit) return;
    onClose();
    navigate(hit.go);
  }

  return (
    <div className="overlay palette-overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="palette" role="dialog" aria-modal="true" aria-label="Search">
        <div className="palette-input">
          <SearchIcon />
          <input
            autoFocus
            aria-label="Search tasks and projects"
            placeholder="Search tasks and projects…"
            value={q}
            onChange={(e) => {
              setQ(e.target.value);
              setIndex(0);
            }}
            onKeyDown={(e) => {
              if (e.key === "Escape") onClose();
              else if (e.key === "ArrowDown") {
                e.preventDefault();
                setIndex((i) => Math.min(hits.length - 1, i + 1));
              } else if (e.key === "ArrowUp") {
                e.preventDefault();
                setIndex((i) => Math.max(0, i - 1));
              } else if (e.key === "Enter") go(hits[index]);
            }}
          />
          <kbd>Esc</kbd>
        </div>
        <ul className="palette-results" role="listbox">
          {hits.map((h, i) => (
            <li key={`${h.kind}-${h.id}`} role="option" aria-selected={i === index}>
              <button className={i === index ? "active" : ""} onMouseEnter={() => setIndex(i)} onClick={() => go(h)}>
                <span className={`hit-kind hit-${h.kind}`}>{h.kind === "task" ? h.sub : "Project"}</span>
                <span className="hit-label">{h.label}</span>
              </button>
            </li>
          ))}
          {hits.length === 0 && <li className="palette-empty muted">No matches</li>}
        </ul>
      </div>
    </div>
  );
}
