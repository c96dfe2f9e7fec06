import { describe, expect, it } from "vitest";
import type { Workflow } from "../api/types";
import { allows, describeRule, orderedRules, patchTransition, removeTransition, toggled, toggleTransition, ROLES } from "./workflowEdit";

function workflow(): Workflow {
  return {
    version: 3,
    statuses: [
      { id: "triaged", name: "Triaged", category: "todo", color: "#8a8f98", wip_limit: null },
      { id: "in_progress", name: "In Progress", category: "in_progress", color: "#1f6feb", wip_limit: null },
      { id: "done", name: "Done", category: "done", color: "#2da44e", wip_limit: null },
    ],
    transitions: [
      { from: "triaged", to: "in_progress", name: "Start", roles: [], conditions: ["assignee_set"] },
      { from: "*", to: "done", name: "Close", roles: ["admin", "owner"], conditions: [] },
    ],
  };
}

describe("toggleTransition", () => {
  it("adds a plain rule for a new cell and removes an explicit one", () => {
    const added = toggleTransition(workflow(), "in_progress", "triaged");
    expect(added.transitions.at(-1)).toEqual({ from: "in_progress", to: "triaged", name: null, roles: [], conditions: [] });
    expect(allows(added, "in_progress", "triaged")).toBe(true);
    const removed = toggleTransition(added, "triaged", "in_progress");
    expect(allows(removed, "triaged", "in_progress")).toBe(false);
  });

  it("expands a `*` rule so only the switched cell changes, keeping its settings", () => {
    const next = toggleTransition(workflow(), "triaged", "done");
    expect(allows(next, "triaged", "done")).toBe(false);
    expect(allows(next, "in_progress", "done")).toBe(true);
    expect(next.transitions.find((t) => t.from === "in_progress" && t.to === "done")).toEqual({
      from: "in_progress",
      to: "done",
      name: "Close",
      roles: ["admin", "owner"],
      conditions: [],
    });
    expect(next.transitions.some((t) => t.from === "*")).toBe(false);
  });

  it("does not change the draft it was given", () => {
    const before = workflow();
    const copy = JSON.parse(JSON.stringify(before));
    toggleTransition(before, "triaged", "done");
    expect(before).toEqual(copy);
  });
});

describe("patchTransition", () => {
  it("renames, restricts and adds conditions to one rule", () => {
    let next = patchTransition(workflow(), 0, { name: "Begin work" });
    next = patchTransition(next, 0, { roles: ["member"], conditions: ["assignee_set", "estimate_set"] });
    expect(next.transitions[0]).toEqual({
      from: "triaged",
      to: "in_progress",
      name: "Begin work",
      roles: ["member"],
      conditions: ["assignee_set", "estimate_set"],
    });
    expect(next.transitions[1]).toEqual(workflow().transitions[1]);
  });

  it("treats a blank name as no name and caps its length", () => {
    expect(patchTransition(workflow(), 0, { name: "   " }).transitions[0].name).toBeNull();
    expect(patchTransition(workflow(), 0, { name: "x".repeat(80) }).transitions[0].name).toHaveLength(64);
  });
});

describe("helpers", () => {
  it("toggled keeps the universe's order", () => {
    expect(toggled(["member"], "owner", ROLES)).toEqual(["owner", "member"]);
    expect(toggled(["owner", "member"], "owner", ROLES)).toEqual(["member"]);
  });

  it("orders rules by source then target, `*` last", () => {
    const wf = toggleTransition(workflow(), "in_progress", "triaged");
    expect(orderedRules(wf).map(({ rule }) => `${rule.from}>${rule.to}`)).toEqual([
      "triaged>in_progress",
      "in_progress>triaged",
      "*>done",
    ]);
  });

  it("removes a rule and describes restrictions", () => {
    expect(removeTransition(workflow(), 0).transitions).toHaveLength(1);
    expect(describeRule(workflow().transitions[0])).toBe("requires an assignee");
    expect(describeRule(workflow().transitions[1])).toBe("only admin, owner");
  });
});
