/** The list view: the filter bar with completion, saved views, bulk selection and bulk edit. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { useParams, useSearchParams } from "react-router-dom";
import { useCapabilities } from "../api/capabilities";
import { api, describe } from "../api/client";
import { useFields, useLabels, useMe, useMembers, useProjects, useWorkflow } from "../api/queries";
import { PRIORITIES, type Page, type Task } from "../api/types";
import { Avatar } from "../components/Avatar";
import { PriorityIcon } from "../components/icons";
import { toast } from "../components/toast";
import { complete, parseFilter, suggest } from "../state/filter";
import { TaskDrawer } from "./TaskDetail";

interface SavedView {
  id: string;
  name: string;
  query: string;
  project_id: string | null;
}

export function ListScreen() {
  const { projectId = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const queryClient = useQueryClient();
  const caps = useCapabilities();
  const me = useMe();
  const workflow = useWorkflow(projectId);
  const labels = useLabels(projectId);
  const members = useMembers();
  const projects = useProjects();
  const fields = useFields(projectId);
  const [text, setText] = useState(params.get("q") ?? "");
  const [applied, setApplied] = useState(text);
  const [focus, setFocus] = useState(false);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const views = useQuery({
    queryKey: ["views"],
    enabled: caps.data?.hasPath("/api/v1/views") ?? false,
    queryFn: async () => (await api<{ items: SavedView[] }>("/api/v1/views")).items,
  });
  const projectViews = (views.data ?? []).filter((v) => !v.project_id || v.project_id === projectId);
  const openKey = params.get("task");
  const serverFilter = caps.data?.hasParam("/api/v1/tasks", "get", "filter") ?? false;

  const tasks = useQuery({
    queryKey: ["tasks", projectId, applied, serverFilter],
    enabled: caps.isSuccess,
    queryFn: async () => {
      const parsed = parseFilter(applied);
      const query: Record<string, string | number | undefined> = { project_id: projectId, limit: 200 };
      if (serverFilter && applied.trim()) query.filter = applied.trim();
      else {
        query.status = parsed.fields.status;
        query.priority = parsed.fields.priority;
        query.label = parsed.fields.label;
        const a = parsed.fields.assignee;
        query.assignee_id = a === "me" ? me.data?.id : a;
      }
      const items = (await api<Page<Task>>("/api/v1/tasks", { query })).items;
      if (serverFilter) return items;
      return items.filter((t) => parsed.words.every((w) => t.title.toLowerCase().includes(w) || t.key.toLowerCase() === w));
    },
  });

  const suggestions = useMemo(
    () =>
      focus
        ? suggest(text, {
            status: workflow.data?.statuses.map((s) => s.id) ?? [],
            priority: PRIORITIES,
            label: labels.data?.map((l) => l.name) ?? [],
            assignee: members.data?.map((m) => m.email) ?? [],
            reporter: members.data?.map((m) => m.email) ?? [],
            project: projects.data?.map((p) => p.key) ?? [],
            ...Object.fromEntries(
              (fields.data ?? []).map((f) => [`cf.${/^\w+$/.test(f.name) ? f.name : `"${f.name}"`}`, f.options.map((o) => o.name)]),
            ),
          }).slice(0, 8)
        : [],
    [focus, text, workflow.data, labels.data, members.data, projects.data, fields.data],
  );

  function run(value = text) {
    setApplied(value);
    setParams((p) => {
      const next = new URLSearchParams(p);
      if (value) next.set("q", value);
      else next.delete("q");
      return next;
    });
  }

  async function saveView() {
    const name = window.prompt("Name this view", applied || "All tasks");
    if (!name) return;
    try {
      await api("/api/v1/views", { method: "POST", body: { name, query: applied, visibility: "project", project_id: projectId } });
      void queryClient.invalidateQueries({ queryKey: ["views"] });
      toast("success", `View “${name}” saved for this project`);
    } catch (error) {
      toast("error", "View not saved", describe(error));
    }
  }

  async function bulk(changes: Record<string, unknown>) {
    try {
      const out = await api<{ results: { id: string; status: number; error?: { detail?: string } }[] }>("/api/v1/tasks/bulk", {
        method: "POST",
        body: { task_ids: [...picked], changes },
      });
      const failed = out.results.filter((r) => r.status >= 400);
      if (failed.length) toast("error", `${failed.length} of ${out.results.length} not changed`, failed[0].error?.detail);
      else toast("success", `${out.results.length} tasks updated`);
      setPicked(new Set());
      void queryClient.invalidateQueries({ queryKey: ["tasks", projectId] });
    } catch (error) {
      toast("error", "Bulk edit failed", describe(error));
    }
  }

  const statusName = new Map(workflow.data?.statuses.map((s) => [s.id, s]) ?? []);
  const rows = tasks.data ?? [];
  const allPicked = rows.length > 0 && rows.every((t) => picked.has(t.id));

  return (
    <div className="page list-page">
      <div className="filter-bar">
        <div className="filter-input">
          <input
            aria-label="Filter"
            placeholder={serverFilter ? "Filter: status:todo priority:high label:bug assignee:me text…" : "status:todo priority:high label:bug assignee:me words…"}
            value={text}
            onFocus={() => setFocus(true)}
            onBlur={() => setTimeout(() => setFocus(false), 120)}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter") run();
              if (e.key === "Tab" && suggestions[0]) {
                e.preventDefault();
                setText(complete(text, suggestions[0]));
              }
            }}
          />
          {suggestions.length > 0 && (
            <ul className="suggestions" role="listbox">
              {suggestions.map((s) => (
                <li key={s} role="option" aria-selected={false} onMouseDown={() => setText(complete(text, s))}>
                  {s}
                </li>
              ))}
            </ul>
          )}
        </div>
        <button className="btn" onClick={() => run()}>Apply</button>
        {caps.data?.hasPath("/api/v1/views") && <button className="btn" onClick={() => void saveView()}>Save view</button>}
      </div>
      {projectViews.length > 0 && (
        <div className="views" aria-label="Saved views">
          {projectViews.map((v) => (
            <button key={v.id} className={`view-chip${v.query === applied ? " on" : ""}`} onClick={() => { setText(v.query); run(v.query); }}>
              {v.name}
            </button>
          ))}
        </div>
      )}
      {picked.size > 0 && (
        <div className="bulk-bar" role="toolbar" aria-label="Bulk edit">
          <strong>{picked.size} selected</strong>
          <select aria-label="Set status" defaultValue="" onChange={(e) => e.target.value && void bulk({ status: e.target.value })}>
            <option value="" disabled>Set status…</option>
            {workflow.data?.statuses.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
          </select>
          <button className="btn btn-small" onClick={() => void bulk({ assignee_id: me.data?.id })}>Assign to me</button>
          <button className="btn btn-small" onClick={() => void bulk({ assignee_id: null })}>Unassign</button>
          {labels.data && labels.data.length > 0 && (
            <select aria-label="Add label" defaultValue="" onChange={(e) => e.target.value && void bulk({ add_labels: [e.target.value] })}>
              <option value="" disabled>Add label…</option>
              {labels.data.map((l) => <option key={l.name} value={l.name}>{l.name}</option>)}
            </select>
          )}
          <button className="link" onClick={() => setPicked(new Set())}>Clear</button>
        </div>
      )}
      {tasks.error && <div className="form-error">{describe(tasks.error)}</div>}
      <table className="task-table">
        <thead>
          <tr>
            <th className="check">
              <input type="checkbox" aria-label="Select all" checked={allPicked} onChange={() => setPicked(allPicked ? new Set() : new Set(rows.map((t) => t.id)))} />
            </th>
            <th>Key</th>
            <th>Title</th>
            <th>Status</th>
            <th className="hide-sm">Priority</th>
            <th className="hide-sm">Estimate</th>
            <th>Assignee</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((t) => (
            <tr key={t.id} className={picked.has(t.id) ? "picked" : ""}>
              <td className="check">
                <input
                  type="checkbox"
                  aria-label={`Select ${t.key}`}
                  checked={picked.has(t.id)}
                  onChange={() => setPicked((p) => { const n = new Set(p); if (n.has(t.id)) n.delete(t.id); else n.add(t.id); return n; })}
                />
              </td>
              <td className="card-key">{t.key}</td>
              <td>
                <button className="link row-title" onClick={() => setParams((p) => { const n = new URLSearchParams(p); n.set("task", t.key); return n; })}>
                  {t.title}
                </button>
              </td>
              <td>
                <span className="status-chip">
                  <i style={{ background: statusName.get(t.status)?.color }} />
                  {statusName.get(t.status)?.name ?? t.status}
                </span>
              </td>
              <td className="hide-sm"><PriorityIcon priority={t.priority} /> {t.priority}</td>
              <td className="hide-sm">{t.estimate ?? "—"}</td>
              <td><Avatar userId={t.assignee_id} size={20} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {tasks.isSuccess && rows.length === 0 && <div className="empty muted">No tasks match this filter.</div>}
      {openKey && <TaskDrawer taskRef={openKey} onClose={() => setParams((p) => { const n = new URLSearchParams(p); n.delete("task"); return n; })} />}
    </div>
  );
}
