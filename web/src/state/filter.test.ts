import { describe, expect, it } from "vitest";
import { complete, parseFilter, suggest } from "./filter";

const values = { status: ["todo", "done"], priority: ["high", "low"], label: ["bug"], assignee: ["me", "none"] };

describe("filter bar", () => {
  it("splits fields from free words", () => {
    expect(parseFilter("status:todo  login Bug priority:high")).toEqual({
      fields: { status: "todo", priority: "high" },
      words: ["login", "bug"],
    });
  });

  it("suggests fields, then values", () => {
    expect(suggest("st", values)).toEqual(["status:"]);
    expect(suggest("bug status:t", values)).toEqual(["status:todo"]);
    expect(complete("bug status:t", "status:todo")).toBe("bug status:todo ");
  });

  it("knows every field of the language, its shorthands and the operators", () => {
    expect(suggest("d", {})).toEqual(["due:"]);
    expect(suggest("due:o", {})).toEqual(["due:overdue"]);
    expect(suggest("has:a", {})).toEqual(["has:attachments", "has:assignee"]);
    expect(suggest("sort:up", {})).toEqual(["sort:updated-desc", "sort:updated-asc"]);
    expect(suggest("bug O", {})).toEqual(["OR"]);
    expect(suggest("-la", {})).toEqual(["-label:"]);
    expect(suggest("-label:b", values)).toEqual(["-label:bug"]);
  });

  it("offers people, project keys and custom fields with their options, quoted when needed", () => {
    const more = { assignee: ["ann@example.com"], project: ["WEB"], 'cf."Story type"': ["Bug fix", "Feature"] };
    expect(suggest("assignee:a", more)).toEqual(["assignee:ann@example.com"]);
    expect(suggest("project:", more)).toEqual(["project:WEB"]);
    expect(suggest("cf", more)).toEqual(['cf."Story type":']);
    expect(suggest('cf."Story type":b', more)).toEqual(['cf."Story type":"Bug fix"']);
    expect(complete('bug cf."Story type":b', 'cf."Story type":"Bug fix"')).toBe('bug cf."Story type":"Bug fix" ');
    expect(suggest("status:", values)).toEqual(["status:todo", "status:done", "status:open", "status:closed", "status:in_progress"]);
  });
});
