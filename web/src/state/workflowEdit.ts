/**
 * Editing a workflow draft before `PUT /projects/{id}/workflow`: the transition
 * matrix and each transition's name, roles and conditions. Pure: every function
 * returns a new draft. The server validates the whole (`domain/workflow.py`);
 * these keep the draft in the shape it accepts (one rule per from/to pair, `*`
 * for "from any status").
 */
import type { Transition, Workflow } from "../api/types";

export const ANY = "*";
export const ROLES = ["owner", "admin", "member", "guest"] as const;
export const CONDITIONS: { id: Transition["conditions"][number]; label: string }[] = [
  { id: "assignee_set", label: "Requires an assignee" },
  { id: "estimate_set", label: "Requires an estimate" },
  { id: "subtasks_done", label: "Requires subtasks done" },
];
export const NAME_MAX = 64;

/** Whether a task may go from `from` to `to` by some rule (explicit or `*`). */
export function allows(workflow: Workflow, from: string, to: string): boolean {
  return workflow.transitions.some((t) => (t.from === from || t.from === ANY) && t.to === to);
}

/**
 * Switch the matrix cell from → to. Switching off a move a `*` rule allows first
 * expands that rule into one explicit rule per source (each keeping its name,
 * roles and conditions), so that only this cell changes.
 */
export function toggleTransition(workflow: Workflow, from: string, to: string): Workflow {
  let transitions = workflow.transitions;
  const wildcard = transitions.find((t) => t.from === ANY && t.to === to);
  if (wildcard) {
    transitions = transitions.filter((t) => t !== wildcard);
    for (const s of workflow.statuses) {
      if (s.id !== to && !transitions.some((t) => t.from === s.id && t.to === to)) {
        transitions = [...transitions, { ...wildcard, roles: [...wildcard.roles], conditions: [...wildcard.conditions], from: s.id }];
      }
    }
  }
  const hit = transitions.find((t) => t.from === from && t.to === to);
  transitions = hit
    ? transitions.filter((t) => t !== hit)
    : [...transitions, { from, to, name: null, roles: [], conditions: [] }];
  return { ...workflow, transitions };
}

/** Change one rule (by its index in `transitions`). A blank name is no name. */
export function patchTransition(
  workflow: Workflow,
  index: number,
  patch: Partial<Pick<Transition, "name" | "roles" | "conditions">>,
): Workflow {
  const transitions = workflow.transitions.map((t, i) => {
    if (i !== index) return t;
    const next = { ...t, ...patch };
    if (patch.name !== undefined) next.name = patch.name === null || patch.name.trim() === "" ? null : patch.name.slice(0, NAME_MAX);
    return next;
  });
  return { ...workflow, transitions };
}

/** `list` with `value` added or taken out, in the order of `universe`. */
export function toggled<T extends string>(list: readonly T[], value: T, universe: readonly T[]): T[] {
  const on = list.includes(value) ? list.filter((v) => v !== value) : [...list, value];
  return universe.filter((v) => on.includes(v));
}

/** Remove one rule. */
export function removeTransition(workflow: Workflow, index: number): Workflow {
  return { ...workflow, transitions: workflow.transitions.filter((_, i) => i !== index) };
}

/** Rules in display order: by source status (then `*`), then target, as the matrix reads. */
export function orderedRules(workflow: Workflow): { rule: Transition; index: number }[] {
  const order = new Map(workflow.statuses.map((s, i) => [s.id, i]));
  const rank = (id: string) => (id === ANY ? workflow.statuses.length : (order.get(id) ?? workflow.statuses.length + 1));
  return workflow.transitions
    .map((rule, index) => ({ rule, index }))
    .sort((a, b) => rank(a.rule.from) - rank(b.rule.from) || rank(a.rule.to) - rank(b.rule.to));
}

/** What a rule's restrictions say, for a tooltip or a summary line. */
export function describeRule(rule: Transition): string {
  const parts: string[] = [];
  if (rule.roles.length) parts.push(`only ${rule.roles.join(", ")}`);
  for (const c of rule.conditions) parts.push(CONDITIONS.find((x) => x.id === c)?.label.toLowerCase() ?? c);
  return parts.join("; ");
}
