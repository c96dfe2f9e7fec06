/**
 * Which columns a card may be dropped on, decided on the client the way
 * `domain/workflow.py` decides on the server (transitions, roles, conditions, WIP
 * limits), so a forbidden target is shown as refused while dragging. The server
 * still decides: a move it refuses is rolled back with its reason.
 */
import type { Board, Task, Transition, Workflow } from "../api/types";

const CONDITION_TEXT: Record<Transition["conditions"][number], string> = {
  assignee_set: "the task has no assignee",
  estimate_set: "the task has no estimate",
  subtasks_done: "not all subtasks are done",
};

/** Transitions leaving `source`, explicit ones before `*`, one per target. */
function transitionsFrom(workflow: Workflow, source: string): Map<string, Transition> {
  const found = new Map<string, Transition>();
  const ordered = [...workflow.transitions].sort((a, b) => Number(a.from === "*") - Number(b.from === "*"));
  for (const t of ordered) {
    if ((t.from === source || t.from === "*") && t.to !== source && !found.has(t.to)) found.set(t.to, t);
  }
  return found;
}

/** For every status: null when the card may go there now, else why not. */
export function dropTargets(
  workflow: Workflow,
  board: Board,
  task: Task,
  role: string,
  wipMode: "enforce" | "warn",
): Map<string, string | null> {
  const out = new Map<string, string | null>();
  const leaving = transitionsFrom(workflow, task.status);
  const source = workflow.statuses.find((s) => s.id === task.status);
  for (const status of workflow.statuses) {
    if (status.id === task.status) {
      out.set(status.id, null);
      continue;
    }
    const t = leaving.get(status.id);
    if (!t) {
      out.set(status.id, `No transition from ${source?.name ?? task.status} to ${status.name}`);
      continue;
    }
    const reasons: string[] = [];
    if (t.roles.length && !t.roles.includes(role)) reasons.push(`only ${t.roles.join(", ")} may do this`);
    for (const c of t.conditions) {
      if (c === "assignee_set" && !task.assignee_id) reasons.push(CONDITION_TEXT[c]);
      if (c === "estimate_set" && task.estimate == null) reasons.push(CONDITION_TEXT[c]);
    }
    const column = board.columns.find((c) => c.status.id === status.id);
    if (wipMode === "enforce" && status.wip_limit != null && column && column.count >= status.wip_limit) {
      reasons.push(`WIP limit of ${status.wip_limit} reached`);
    }
    out.set(status.id, reasons.length ? reasons.join("; ") : null);
  }
  return out;
}
