/**
 * The project's custom fields in the task panel, each editable in place. A change
 * is saved through the panel's `onSave` (PATCH with `If-Match`, so a concurrent
 * edit is caught like any other field) as `custom_fields: {id: value}`; null
 * clears a value. Text, number and link fields save when they lose focus.
 */
import { useFields } from "../api/queries";
import type { FieldDef, Task, TaskPatch } from "../api/types";
import { inputValue, valueFromInput } from "../state/fields";
import { usePeople } from "../state/people";

interface Props {
  task: Task;
  onSave: (changes: TaskPatch) => Promise<void>;
}

export function CustomFields({ task, onSave }: Props) {
  const fields = useFields(task.project_id);
  if (!fields.data?.length) return null;
  const values = (task.custom_fields ?? {}) as Record<string, unknown>;

  function save(field: FieldDef, raw: string | boolean | string[]) {
    const value = valueFromInput(field, raw);
    if (value === undefined) return; // not a value yet: the input keeps what was typed
    const before = values[field.id] ?? null;
    if (JSON.stringify(before) === JSON.stringify(value)) return;
    void onSave({ custom_fields: { [field.id]: value } });
  }

  return (
    <div className="custom-fields" aria-label="Custom fields" role="group">
      {fields.data.map((field) => (
        <FieldInput key={field.id} field={field} task={task} value={values[field.id]} onChange={(raw) => save(field, raw)} />
      ))}
    </div>
  );
}

function FieldInput({ field, task, value, onChange }: { field: FieldDef; task: Task; value: unknown; onChange: (raw: string | boolean | string[]) => void }) {
  const people = usePeople();
  const shown = inputValue(field, value);
  const label = `${field.name}${field.required ? " *" : ""}`;
  // Inputs that save on blur are keyed by the task version, so a saved or
  // incoming change replaces what they show.
  const key = `${field.id}-${task.version}`;
  switch (field.type) {
    case "checkbox":
      return (
        <label className="field check">
          <input type="checkbox" aria-label={field.name} checked={shown === true} onChange={(e) => onChange(e.target.checked)} />
          <span className="field-label">{label}</span>
        </label>
      );
    case "single_select": {
      const colour = field.options.find((o) => o.id === shown)?.color;
      return (
        <label className="field">
          <span className="field-label">{label}</span>
          <span className="assignee-row">
            <i className="swatch-dot" style={{ background: colour ?? "transparent" }} />
            <select aria-label={field.name} value={String(shown)} onChange={(e) => onChange(e.target.value)}>
              <option value="">None</option>
              {field.options.map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
            </select>
          </span>
        </label>
      );
    }
    case "multi_select": {
      const on = shown as string[];
      return (
        <div className="field" role="group" aria-label={field.name}>
          <span className="field-label">{label}</span>
          <div className="label-picker">
            {field.options.map((o) => {
              const picked = on.includes(o.id);
              return (
                <button key={o.id} className={`label-chip toggle${picked ? " on" : ""}`} aria-pressed={picked}
                  onClick={() => onChange(picked ? on.filter((x) => x !== o.id) : [...on, o.id])}>
                  <i style={{ background: o.color }} />
                  {o.name}
                </button>
              );
            })}
          </div>
        </div>
      );
    }
    case "user":
      return (
        <label className="field">
          <span className="field-label">{label}</span>
          <select aria-label={field.name} value={String(shown)} onChange={(e) => onChange(e.target.value)}>
            <option value="">Nobody</option>
            {shown !== "" && !people.has(String(shown)) && <option value={String(shown)}>Member {String(shown).slice(0, 4)}</option>}
            {[...people.values()].sort((a, b) => a.name.localeCompare(b.name)).map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
          </select>
        </label>
      );
    case "date":
      return (
        <label className="field">
          <span className="field-label">{label}</span>
          <input type="date" aria-label={field.name} value={String(shown)} onChange={(e) => onChange(e.target.value)} />
        </label>
      );
    default:
      return (
        <label className="field">
          <span className="field-label">{label}</span>
          <input
            key={key}
            aria-label={field.name}
            type={field.type === "number" ? "number" : field.type === "url" ? "url" : "text"}
            step={field.type === "number" ? "any" : undefined}
            defaultValue={String(shown)}
            onBlur={(e) => onChange(e.target.value)}
            onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
          />
        </label>
      );
  }
}
