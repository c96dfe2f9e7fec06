/** A task's history: who changed what, statuses and custom fields by their names. */
import { useActivity, useFields, useWorkflow } from "../api/queries";
import type { FieldDef } from "../api/types";
import { cardValue } from "../state/fields";
import { personOf, usePeople, type Person } from "../state/people";
import { Avatar } from "./Avatar";

const show = (v: unknown) => (v === null || v === undefined || v === "" ? "none" : Array.isArray(v) ? v.join(", ") || "none" : String(v));

/** `Team: Red → Blue` for each custom field whose value differs between two maps. */
function describeFields(from: unknown, to: unknown, fields: readonly FieldDef[], people: ReadonlyMap<string, Person>): string {
  const before = (from ?? {}) as Record<string, unknown>;
  const after = (to ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  for (const id of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[id]) === JSON.stringify(after[id])) continue;
    const field = fields.find((f) => f.id === id);
    if (!field) continue; // a field deleted since
    const text = (v: unknown) => {
      const shown = cardValue({ ...field, show_on_card: true }, v);
      if (!shown) return "none";
      if (shown.kind === "options") return shown.options.map((o) => o.name).join(", ");
      if (shown.kind === "check") return "yes";
      if (shown.kind === "user") return personOf(people, shown.userId)?.name ?? "someone";
      return shown.text;
    };
    parts.push(`${field.name}: ${text(before[id])} → ${text(after[id])}`);
  }
  return parts.join("; ") || "changed custom fields";
}

function describeChange(
  field: string,
  from: unknown,
  to: unknown,
  statusName: (id: string) => string,
  fields: readonly FieldDef[],
  people: ReadonlyMap<string, Person>,
): string {
  if (field === "status") [from, to] = [from == null ? from : statusName(String(from)), statusName(String(to))];
  if (field === "description") return "changed the description";
  if (field === "rank") return "reordered it";
  if (field === "custom_fields") return describeFields(from, to, fields, people);
  if (from === null && field === "status") return `created it in ${show(to)}`;
  return `${field}: ${show(from)} → ${show(to)}`;
}

export function TaskActivity({ taskRef, projectId }: { taskRef: string; projectId: string }) {
  const activity = useActivity(taskRef);
  const workflow = useWorkflow(projectId);
  const fields = useFields(projectId);
  const statusName = (id: string) => workflow.data?.statuses.find((s) => s.id === id)?.name ?? id;
  const people = usePeople();
  return (
    <section className="section" aria-label="Activity">
      <h3>Activity</h3>
      <ol className="activity">
        {activity.data?.map((a) => (
          <li key={a.version}>
            <Avatar userId={a.actor_id} size={18} />
            <span>
              <strong>{personOf(people, a.actor_id)?.name}</strong>{" "}
              {a.changes.length
                ? a.changes.map((c) => describeChange(c.field, c.from, c.to, statusName, fields.data ?? [], people)).join("; ")
                : a.event.replace(".", " ")}
            </span>
            <span className="muted small">{new Date(a.at).toLocaleString()}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}
