/** The custom field values a card shows (fields marked `show_on_card`). */
import { useFields } from "../api/queries";
import type { Task } from "../api/types";
import { cardValues } from "../state/fields";
import { personOf, usePeople } from "../state/people";
import { Avatar } from "./Avatar";

export function CardFields({ task }: { task: Task }) {
  const fields = useFields(task.project_id);
  const people = usePeople();
  const values = cardValues(fields.data ?? [], task);
  if (!values.length) return null;
  return (
    <div className="card-fields">
      {values.map((v) => {
        const label = v.field.name;
        switch (v.kind) {
          case "options":
            return v.options.map((o) => (
              <span key={`${v.field.id}:${o.id}`} className="field-chip" title={label} data-testid="card-field" data-field={label}
                style={{ borderColor: o.color, background: `${o.color}1f` }}>
                <i style={{ background: o.color }} />
                {o.name}
              </span>
            ));
          case "user":
            return (
              <span key={v.field.id} className="field-chip field-user" title={`${label}: ${personOf(people, v.userId)?.name}`} data-testid="card-field" data-field={label}>
                <Avatar userId={v.userId} size={16} />
              </span>
            );
          case "check":
            return (
              <span key={v.field.id} className="field-chip" title={label} data-testid="card-field" data-field={label}>
                ✓ {label}
              </span>
            );
          case "text":
            return (
              <span key={v.field.id} className="field-chip" title={label} data-testid="card-field" data-field={label}>
                <span className="muted">{label}</span> {v.text}
              </span>
            );
        }
      })}
    </div>
  );
}
