/** Project settings: details, WIP mode, the workflow editor and labels. */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useParams } from "react-router-dom";
import { api, describe } from "../api/client";
import { keys, useLabels, useProject, useWorkflow } from "../api/queries";
import type { Category, Project, Status, Transition, Workflow } from "../api/types";
import { toast } from "../components/toast";

const CATEGORIES: Category[] = ["todo", "in_progress", "done"];

export function SettingsScreen() {
  const { projectId = "" } = useParams();
  return (
    <div className="page settings">
      <ProjectDetails projectId={projectId} />
      <WorkflowEditor projectId={projectId} />
      <LabelsEditor projectId={projectId} />
      <section className="settings-card">
        <h2>Members</h2>
        <p className="muted">
          Everyone in the organisation can see this project. Inviting people and per-project roles are managed by the
          organisation’s administrators.
        </p>
      </section>
    </div>
  );
}

function ProjectDetails({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const project = useProject(projectId);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [wip, setWip] = useState("enforce");
  useEffect(() => {
    if (!project.data) return;
    setName(project.data.name);
    setDescription(project.data.description);
    setWip(project.data.settings?.wip_mode === "warn" ? "warn" : "enforce");
  }, [project.data]);

  async function save() {
    try {
      const saved = await api<Project>(`/api/v1/projects/${projectId}`, {
        method: "PATCH",
        body: { name, description, settings: { ...(project.data?.settings ?? {}), wip_mode: wip } },
      });
      queryClient.setQueryData(keys.project(projectId), saved);
      void queryClient.invalidateQueries({ queryKey: keys.projects });
      toast("success", "Project saved");
    } catch (error) {
      toast("error", "Not saved", describe(error));
    }
  }

  return (
    <section className="settings-card">
      <h2>Project</h2>
      <div className="form">
        <div className="form-row">
          <label className="grow">Name<input value={name} onChange={(e) => setName(e.target.value)} /></label>
          <label className="key-field">Key<input value={project.data?.key ?? ""} disabled /></label>
        </div>
        <label>Description<textarea rows={2} value={description} onChange={(e) => setDescription(e.target.value)} /></label>
        <label>
          WIP limits
          <select value={wip} onChange={(e) => setWip(e.target.value)}>
            <option value="enforce">Enforce: refuse moves past a limit</option>
            <option value="warn">Warn: allow, but flag the column</option>
          </select>
        </label>
        <div><button className="btn btn-primary" onClick={() => void save()}>Save</button></div>
      </div>
    </section>
  );
}

function WorkflowEditor({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const workflow = useWorkflow(projectId);
  const [draft, setDraft] = useState<Workflow | null>(null);
  useEffect(() => setDraft(workflow.data ?? null), [workflow.data]);
  if (!draft) return <section className="settings-card"><h2>Workflow</h2><div className="skeleton" style={{ height: 120 }} /></section>;

  const setStatus = (i: number, patch: Partial<Status>) =>
    setDraft({ ...draft, statuses: draft.statuses.map((s, j) => (j === i ? { ...s, ...patch } : s)) });
  const allows = (from: string, to: string) => draft.transitions.some((t) => (t.from === from || t.from === "*") && t.to === to);
  const explicit = (from: string, to: string) => draft.transitions.find((t) => t.from === from && t.to === to);

  function toggle(from: string, to: string) {
    let transitions: Transition[] = draft!.transitions;
    // Expand `*` rules for this target into explicit ones so a single cell can be switched off.
    const wildcard = transitions.find((t) => t.from === "*" && t.to === to);
    if (wildcard) {
      transitions = transitions.filter((t) => t !== wildcard);
      for (const s of draft!.statuses) {
        if (s.id !== to && !transitions.some((t) => t.from === s.id && t.to === to)) transitions.push({ ...wildcard, from: s.id });
      }
    }
    const hit = transitions.find((t) => t.from === from && t.to === to);
    transitions = hit ? transitions.filter((t) => t !== hit) : [...transitions, { from, to, name: null, roles: [], conditions: [] }];
    setDraft({ ...draft!, transitions });
  }

  function addStatus() {
    const n = draft!.statuses.length + 1;
    const id = `status_${n}`;
    setDraft({
      ...draft!,
      statuses: [...draft!.statuses, { id, name: `Status ${n}`, category: "in_progress", color: "#8a8f98", wip_limit: null }],
      transitions: [...draft!.transitions, { from: "*", to: id, name: null, roles: [], conditions: [] }],
    });
  }

  async function save() {
    try {
      await api(`/api/v1/projects/${projectId}/workflow`, {
        method: "PUT",
        body: { statuses: draft!.statuses, transitions: draft!.transitions, version: workflow.data?.version },
      });
      void queryClient.invalidateQueries({ queryKey: keys.workflow(projectId) });
      void queryClient.invalidateQueries({ queryKey: keys.board(projectId) });
      toast("success", "Workflow saved");
    } catch (error) {
      toast("error", "Workflow not saved", describe(error));
    }
  }

  return (
    <section className="settings-card">
      <h2>Workflow</h2>
      <table className="status-table">
        <thead><tr><th>Colour</th><th>Name</th><th>Category</th><th>WIP limit</th><th /></tr></thead>
        <tbody>
          {draft.statuses.map((s, i) => (
            <tr key={s.id}>
              <td><input type="color" aria-label={`${s.name} colour`} value={s.color} onChange={(e) => setStatus(i, { color: e.target.value })} /></td>
              <td><input aria-label={`${s.name} name`} value={s.name} onChange={(e) => setStatus(i, { name: e.target.value })} /></td>
              <td>
                <select aria-label={`${s.name} category`} value={s.category} onChange={(e) => setStatus(i, { category: e.target.value as Category })}>
                  {CATEGORIES.map((c) => <option key={c} value={c}>{c.replace("_", " ")}</option>)}
                </select>
              </td>
              <td>
                <input
                  type="number" min={1} aria-label={`${s.name} WIP limit`} placeholder="none" value={s.wip_limit ?? ""}
                  onChange={(e) => setStatus(i, { wip_limit: e.target.value ? Number(e.target.value) : null })}
                />
              </td>
              <td>
                <button className="icon-btn" aria-label={`Remove ${s.name}`} disabled={draft.statuses.length <= 3}
                  onClick={() => setDraft({ ...draft, statuses: draft.statuses.filter((_, j) => j !== i), transitions: draft.transitions.filter((t) => t.from !== s.id && t.to !== s.id) })}>
                  ×
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <button className="btn btn-small" onClick={addStatus}>Add status</button>
      <h3>Transitions</h3>
      <p className="muted small">A tick lets a task move from the row’s status to the column’s.</p>
      <div className="matrix-wrap">
        <table className="matrix">
          <thead><tr><th>from \ to</th>{draft.statuses.map((s) => <th key={s.id}>{s.name}</th>)}</tr></thead>
          <tbody>
            {draft.statuses.map((from) => (
              <tr key={from.id}>
                <th>{from.name}</th>
                {draft.statuses.map((to) => (
                  <td key={to.id}>
                    {from.id === to.id ? "—" : (
                      <input type="checkbox" aria-label={`${from.name} to ${to.name}`} checked={allows(from.id, to.id)}
                        title={explicit(from.id, to.id)?.conditions.join(", ") || undefined}
                        onChange={() => toggle(from.id, to.id)} />
                    )}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="row-actions">
        <button className="btn btn-primary" onClick={() => void save()}>Save workflow</button>
        <button className="btn" onClick={() => setDraft(workflow.data ?? null)}>Reset</button>
      </div>
    </section>
  );
}

function LabelsEditor({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const labels = useLabels(projectId);
  const [name, setName] = useState("");
  const [color, setColor] = useState("#1f6feb");
  async function put(next: { name: string; color: string }[]) {
    try {
      await api(`/api/v1/projects/${projectId}/labels`, { method: "PUT", body: { labels: next } });
      void queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
    } catch (error) {
      toast("error", "Labels not saved", describe(error));
    }
  }
  return (
    <section className="settings-card">
      <h2>Labels</h2>
      <div className="label-picker">
        {labels.data?.map((l) => (
          <span key={l.name} className="label-chip">
            <i style={{ background: l.color }} />
            {l.name}
            <button className="icon-btn tiny" aria-label={`Remove label ${l.name}`} onClick={() => void put(labels.data!.filter((x) => x.name !== l.name))}>×</button>
          </span>
        ))}
      </div>
      <form className="inline-form" onSubmit={(e) => { e.preventDefault(); if (name.trim()) { void put([...(labels.data ?? []), { name: name.trim(), color }]); setName(""); } }}>
        <input type="color" aria-label="Label colour" value={color} onChange={(e) => setColor(e.target.value)} />
        <input aria-label="New label" placeholder="New label" value={name} onChange={(e) => setName(e.target.value)} />
        <button className="btn">Add label</button>
      </form>
    </section>
  );
}
