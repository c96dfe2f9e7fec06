/**
 * Custom fields in project settings: the project's definitions, which of them
 * cards show, and a form for a new one (select fields with coloured options).
 * Project admins change them (`/projects/{id}/fields`); others get the server's
 * 403 in a toast.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, describe } from "../api/client";
import { keys, useFields } from "../api/queries";
import type { FieldDef, FieldType } from "../api/types";
import { toast } from "./toast";

export const FIELD_TYPES: { id: FieldType; label: string }[] = [
  { id: "single_select", label: "Single select" },
  { id: "multi_select", label: "Multi select" },
  { id: "number", label: "Number" },
  { id: "date", label: "Date" },
  { id: "user", label: "Person" },
  { id: "checkbox", label: "Checkbox" },
  { id: "text", label: "Text" },
  { id: "url", label: "Link" },
];

const PALETTE = ["#e5484d", "#f76b15", "#ffc53d", "#30a46c", "#1f6feb", "#8e4ec6", "#8b949e"];
const isSelect = (t: FieldType) => t === "single_select" || t === "multi_select";

export function FieldsEditor({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const fields = useFields(projectId);
  const base = `/api/v1/projects/${projectId}/fields`;

  async function run(what: string, call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      void queryClient.invalidateQueries({ queryKey: keys.fields(projectId) });
      return true;
    } catch (error) {
      toast("error", what, describe(error));
      return false;
    }
  }

  return (
    <section className="settings-card" aria-label="Custom fields">
      <h2>Custom fields</h2>
      {fields.data?.length === 0 && <p className="muted small">No custom fields yet.</p>}
      {!!fields.data?.length && (
        <table className="status-table fields-table">
          <thead><tr><th>Name</th><th>Type</th><th>Options</th><th>On cards</th><th /></tr></thead>
          <tbody>
            {fields.data.map((f) => (
              <tr key={f.id} data-testid="field-row" data-field={f.name}>
                <td><strong>{f.name}</strong>{f.required && <span className="muted"> · required</span>}</td>
                <td>{FIELD_TYPES.find((t) => t.id === f.type)?.label ?? f.type}</td>
                <td>
                  <span className="label-picker">
                    {f.options.map((o) => (
                      <span key={o.id} className="label-chip"><i style={{ background: o.color }} />{o.name}</span>
                    ))}
                  </span>
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Show ${f.name} on cards`}
                    checked={f.show_on_card}
                    onChange={() => void run("Field not saved", () => api(`${base}/${f.id}`, { method: "PATCH", body: { show_on_card: !f.show_on_card } }))}
                  />
                </td>
                <td>
                  <button
                    className="icon-btn"
                    aria-label={`Delete field ${f.name}`}
                    onClick={() => {
                      if (window.confirm(`Delete “${f.name}” and its value on every task?`)) {
                        void run("Field not deleted", () => api(`${base}/${f.id}`, { method: "DELETE" }));
                      }
                    }}
                  >
                    ×
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <NewField existing={fields.data ?? []} onCreate={(body) => run("Field not created", () => api(base, { method: "POST", body }))} />
    </section>
  );
}

interface Draft {
  name: string;
  type: FieldType;
  show_on_card: boolean;
  options: { name: string; color: string }[];
}

const EMPTY: Draft = { name: "", type: "single_select", show_on_card: true, options: [] };

function NewField({ existing, onCreate }: { existing: FieldDef[]; onCreate: (body: object) => Promise<boolean> }) {
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [option, setOption] = useState("");
  const taken = existing.some((f) => f.name.toLowerCase() === draft.name.trim().toLowerCase());

  function addOption() {
    const name = option.trim();
    if (!name || draft.options.some((o) => o.name.toLowerCase() === name.toLowerCase())) return;
    setDraft({ ...draft, options: [...draft.options, { name, color: PALETTE[draft.options.length % PALETTE.length] }] });
    setOption("");
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!draft.name.trim() || taken) return;
    const body = {
      name: draft.name.trim(),
      type: draft.type,
      show_on_card: draft.show_on_card,
      ...(isSelect(draft.type) ? { options: draft.options } : {}),
    };
    if (await onCreate(body)) {
      setDraft(EMPTY);
      setOption("");
    }
  }

  return (
    <form className="form new-field" onSubmit={submit} aria-label="New custom field">
      <div className="form-row">
        <label className="grow">
          Field name
          <input value={draft.name} maxLength={64} onChange={(e) => setDraft({ ...draft, name: e.target.value })} placeholder="Team, Story points, Customer…" />
          {taken && <span className="field-error">The project already has a field with this name.</span>}
        </label>
        <label>
          Field type
          <select value={draft.type} onChange={(e) => setDraft({ ...draft, type: e.target.value as FieldType })}>
            {FIELD_TYPES.map((t) => <option key={t.id} value={t.id}>{t.label}</option>)}
          </select>
        </label>
      </div>
      {isSelect(draft.type) && (
        <div className="field">
          <span className="field-label">Options</span>
          <div className="label-picker">
            {draft.options.map((o, i) => (
              <span key={o.name} className="label-chip">
                <input
                  type="color"
                  className="swatch"
                  aria-label={`${o.name} colour`}
                  value={o.color}
                  onChange={(e) => setDraft({ ...draft, options: draft.options.map((x, j) => (j === i ? { ...x, color: e.target.value } : x)) })}
                />
                {o.name}
                <button type="button" className="icon-btn tiny" aria-label={`Remove option ${o.name}`}
                  onClick={() => setDraft({ ...draft, options: draft.options.filter((_, j) => j !== i) })}>×</button>
              </span>
            ))}
          </div>
          <div className="inline-form">
            <input
              aria-label="New option"
              placeholder="Option name, then Enter"
              value={option}
              onChange={(e) => setOption(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter") {
                  e.preventDefault();
                  addOption();
                }
              }}
            />
            <button type="button" className="btn btn-small" onClick={addOption}>Add option</button>
          </div>
        </div>
      )}
      <label className="check">
        <input type="checkbox" checked={draft.show_on_card} onChange={(e) => setDraft({ ...draft, show_on_card: e.target.checked })} />
        Show on cards
      </label>
      <div>
        <button className="btn" disabled={!draft.name.trim() || taken || (isSelect(draft.type) && draft.options.length === 0)}>
          Add field
        </button>
      </div>
    </form>
  );
}
