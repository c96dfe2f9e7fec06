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
});
