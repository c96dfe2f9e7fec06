import { describe, expect, it } from "vitest";
import { backoff, ProjectTracker } from "./tracker";

const P = "11111111-1111-1111-1111-111111111111";

function ev(version: number) {
  return {
    type: "event" as const,
    project_id: P,
    version,
    event: "task.updated",
    actor_id: null,
    task_id: null,
    created_at: "",
    payload: {},
  };
}

describe("ProjectTracker", () => {
  it("subscribes without since first, then resumes from the last applied version", () => {
    const t = new ProjectTracker(P);
    expect(t.subscribeMessage()).toEqual({ type: "subscribe", project_id: P });
    t.handle({ type: "subscribed", project_id: P, version: 10 });
    expect(t.handle(ev(11)).kind).toBe("apply");
    expect(t.handle(ev(12)).kind).toBe("apply");
    // the socket drops; the reconnect asks for everything after 12
    expect(t.subscribeMessage()).toEqual({ type: "subscribe", project_id: P, since: 12 });
  });

  it("drops replayed events it already applied", () => {
    const t = new ProjectTracker(P);
    t.handle({ type: "subscribed", project_id: P, version: 3 });
    t.handle(ev(4));
    t.handle(ev(5));
    // resume with since=5 overlaps with a live event the server had queued
    expect(t.handle(ev(5)).kind).toBe("ignore");
    expect(t.handle(ev(6)).kind).toBe("apply");
    t.handle({ type: "subscribed", project_id: P, version: 6 });
    expect(t.version).toBe(6);
  });

  it("reloads on snapshot_required and starts over from the next subscribed", () => {
    const t = new ProjectTracker(P);
    t.handle({ type: "subscribed", project_id: P, version: 3 });
    expect(t.handle({ type: "snapshot_required", project_id: P, version: 900 }).kind).toBe(
      "reload",
    );
    expect(t.subscribeMessage()).toEqual({ type: "subscribe", project_id: P });
    t.handle({ type: "subscribed", project_id: P, version: 900 });
    expect(t.handle(ev(901)).kind).toBe("apply");
  });

  it("ignores other projects' messages", () => {
    const t = new ProjectTracker(P);
    expect(t.handle({ ...ev(1), project_id: "other" }).kind).toBe("ignore");
    expect(t.version).toBeNull();
  });
});

describe("backoff", () => {
  it("grows and is capped", () => {
    const mid = () => 0.5;
    expect(backoff(0, mid)).toBeLessThan(backoff(3, mid));
    expect(backoff(20, () => 1)).toBe(10_000);
  });
});
