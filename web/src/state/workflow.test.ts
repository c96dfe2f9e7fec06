import { describe, expect, it } from "vitest";
import type { Board, Task, Workflow } from "../api/types";
import { dropTargets } from "./workflow";

const wf: Workflow = {
  version: 1,
  statuses: [
    { id: "new", name: "New", category: "todo", color: "#000000", wip_limit: null },
    { id: "triaged", name: "Triaged", category: "todo", color: "#000000", wip_limit: null },
    { id: "doing", name: "Doing", category: "in_progress", color: "#000000", wip_limit: 1 },
    { id: "done", name: "Done", category: "done", color: "#000000", wip_limit: null },
  ],
  transitions: [
    { from: "new", to: "triaged", name: null, roles: [], conditions: [] },
    { from: "triaged", to: "doing", name: null, roles: [], conditions: ["assignee_set"] },
    { from: "*", to: "done", name: null, roles: ["admin", "owner"], conditions: [] },
  ],
};

const task = { id: "t", status: "new", assignee_id: null, estimate: null } as unknown as Task;

function board(doing: number): Board {
  return {
    workflow_version: 1,
    columns: wf.statuses.map((status) => ({ status, tasks: [], count: status.id === "doing" ? doing : 0 })),
  };
}

describe("dropTargets", () => {
  it("allows listed transitions and names why others are refused", () => {
    const out = dropTargets(wf, board(0), task, "member", "enforce");
    expect(out.get("new")).toBeNull();
    expect(out.get("triaged")).toBeNull();
    expect(out.get("doing")).toBe("No transition from New to Doing");
    expect(out.get("done")).toBe("only admin, owner may do this");
    expect(dropTargets(wf, board(0), task, "owner", "enforce").get("done")).toBeNull();
  });

  it("checks conditions and WIP limits", () => {
    const triaged = { ...task, status: "triaged" };
    expect(dropTargets(wf, board(0), triaged, "member", "enforce").get("doing")).toBe("the task has no assignee");
    const assigned = { ...triaged, assignee_id: "u" };
    expect(dropTargets(wf, board(0), assigned, "member", "enforce").get("doing")).toBeNull();
    expect(dropTargets(wf, board(1), assigned, "member", "enforce").get("doing")).toBe("WIP limit of 1 reached");
    expect(dropTargets(wf, board(1), assigned, "member", "warn").get("doing")).toBeNull();
  });
});
