/**
 * The workflow editor in project settings: statuses (colour, name, category, WIP
 * limit), the transition matrix, and each transition's name, the organisation
 * roles allowed to take it and the conditions the task must meet. Saved as a
 * whole with the version it was based on (`PUT /projects/{id}/workflow`).
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { api, describe } from "../api/client";
import { keys, useWorkflow } from "../api/queries";
import type { Category, Status, Workflow } from "../api/types";
import {
  allows,
  ANY,
  CONDITIONS,
  describeRule,
  orderedRules,
  patchTransition,
  removeTransition,
  ROLES,
  toggled,
  toggleTransition,
} from "../state/workflowEdit";
import { toast } from "./toast";

const CATEGORIES: Category[] = ["todo", "in_progress", "done"];

export function WorkflowEditor({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const workflow = useWorkflow(projectId);
  const [draft, setDraft] = useState<Workflow | null>(null);
  useEffect(() => setDraft(workflow.data ?? null), [workflow.data]);
  if (!draft) return <section className="settings-card"><h2>Workflow</h2><div className="skeleton" style={{ height: 120 }} /></section>;

  const setStatus = (i: number, patch: Partial<Status>) =>
    setDraft({ ...draft, statuses: draft.statuses.map((s, j) => (j === i ? { ...s, ...patch } : s)) });
  const explicit = (from: string, to: string) => draft.transitions.find((t) => t.from === from && t.to === to);

  function addStatus() {
    const n = draft!.statuses.length + 1;
    const id = `status_${n}`;
    setDraft({
      ...draft!,
      statuses: [...draft!.statuses, { id, name: `Status ${n}`, category: "in_progress", color: "#8a8f98", wip_limit: null }],
      transitions: [...draft!.transitions, { from: ANY, to: id, name: null, roles: [], conditions: [] }],
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
                {draft.statuses.map((to) => {
                  const rule = explicit(from.id, to.id) ?? explicit(ANY, to.id);
                  const restricted = rule && (rule.roles.length > 0 || rule.conditions.length > 0);
                  return (
                    <td key={to.id} className={restricted ? "restricted" : undefined}>
                      {from.id === to.id ? "—" : (
                        <input type="checkbox" aria-label={`${from.name} to ${to.name}`} checked={allows(draft, from.id, to.id)}
                          title={rule ? describeRule(rule) || undefined : undefined}
                          onChange={() => setDraft(toggleTransition(draft, from.id, to.id))} />
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <TransitionRules draft={draft} onChange={setDraft} />
      <div className="row-actions">
        <button className="btn btn-primary" onClick={() => void save()}>Save workflow</button>
        <button className="btn" onClick={() => setDraft(workflow.data ?? null)}>Reset</button>
      </div>
    </section>
  );
}

/** One row per rule: its name, who may take it, and what the task needs. */
function TransitionRules({ draft, onChange }: { draft: Workflow; onChange: (w: Workflow) => void }) {
  const nameOf = (id: string) => (id === ANY ? "Any status" : (draft.statuses.find((s) => s.id === id)?.name ?? id));
  const rules = orderedRules(draft);
  return (
    <div className="rules" aria-label="Transition rules" role="group">
      <p className="muted small">
        Name a transition to label its button in the task panel. With no role ticked, anyone who may edit the task can take it.
      </p>
      {rules.length === 0 && <p className="muted small">No transitions: tasks cannot move.</p>}
      {rules.map(({ rule, index }) => {
        const label = `${nameOf(rule.from)} to ${nameOf(rule.to)}`;
        return (
          <div key={`${rule.from}>${rule.to}`} className="rule" data-testid="transition-rule" data-from={rule.from} data-to={rule.to}>
            <div className="rule-head">
              <span className="rule-path">
                <strong>{nameOf(rule.from)}</strong> → <strong>{nameOf(rule.to)}</strong>
              </span>
              <input
                aria-label={`${label} name`}
                placeholder={`→ ${nameOf(rule.to)}`}
                maxLength={64}
                value={rule.name ?? ""}
                onChange={(e) => onChange(patchTransition(draft, index, { name: e.target.value }))}
              />
              <button className="icon-btn" aria-label={`Remove ${label}`} onClick={() => onChange(removeTransition(draft, index))}>
                ×
              </button>
            </div>
            <div className="rule-options">
              <fieldset>
                <legend>Roles</legend>
                {ROLES.map((role) => (
                  <label key={role} className="check">
                    <input
                      type="checkbox"
                      aria-label={`${label}: ${role}`}
                      checked={rule.roles.includes(role)}
                      onChange={() => onChange(patchTransition(draft, index, { roles: toggled(rule.roles, role, ROLES) }))}
                    />
                    {role}
                  </label>
                ))}
              </fieldset>
              <fieldset>
                <legend>Conditions</legend>
                {CONDITIONS.map((c) => (
                  <label key={c.id} className="check">
                    <input
                      type="checkbox"
                      aria-label={`${label}: ${c.label}`}
                      checked={rule.conditions.includes(c.id)}
                      onChange={() =>
                        onChange(patchTransition(draft, index, { conditions: toggled(rule.conditions, c.id, CONDITIONS.map((x) => x.id)) }))
                      }
                    />
                    {c.label}
                  </label>
                ))}
              </fieldset>
            </div>
          </div>
        );
      })}
    </div>
  );
}
