import { describe, expect, it } from "vitest";
import type { Board, Task } from "../api/types";
import {
  applyEvent,
  confirm,
  moveCard,
  neighbours,
  replay,
  rollback,
  type ProjectEvent,
} from "./board";

function task(n: number, status: string, rank: string, version = 1): Task {
  return {
    id: `00000000-0000-0000-0000-${String(n).padStart(12, "0")}`,
    key: `WEB-${n}`,
    project_id: "p",
    title: `Task ${n}`,
    description: "",
    status,
    priority: "none",
    assignee_id: null,
    reporter_id: "u",
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    version,
    rank,
    parent_id: null,
    estimate: null,
    due_date: null,
    start_date: null,
    labels: [],
    watchers: [],
    sprint_id: null,
  };
}

function board(...tasks: Task[]): Board {
  const statuses = ["todo", "doing", "done"];
  return {
    workflow_version: 1,
    columns: statuses.map((id) => {
      const mine = tasks.filter((t) => t.status === id);
      return {
        status: { id, name: id, category: "todo", color: "#000000", wip_limit: null },
        tasks: mine,
        count: mine.length,
      };
    }),
  };
}

function event(version: number, type: string, payload: Record<string, unknown>): ProjectEvent {
  return {
    type: "event",
    project_id: "p",
    version,
    event: type,
    actor_id: "u",
    task_id: (payload.task_id as string) ?? null,
    created_at: "2026-01-01T00:00:00Z",
    payload,
  };
}

const ids = (b: Board, col: number) => b.columns[col].tasks.map((t) => t.key);

describe("applyEvent", () => {
  it("moves a card to the column and rank the update names", () => {
    const a = task(1, "todo", "a");
    const b = task(2, "doing", "m");
    const out = applyEvent(
      board(a, b),
      event(5, "task.updated", { task_id: a.id, version: 2, changes: { status: "doing", rank: "z" } }),
    );
    expect(out.reload).toBeFalsy();
    if (out.reload) return;
    expect(ids(out.board, 0)).toEqual([]);
    expect(ids(out.board, 1)).toEqual(["WEB-2", "WEB-1"]);
    expect(out.board.columns[0].count).toBe(0);
    expect(out.board.columns[1].count).toBe(2);
  });

  it("ignores an update the board already has (same or older task version)", () => {
    const a = task(1, "doing", "a", 3);
    const b0 = board(a);
    const out = applyEvent(
      b0,
      event(5, "task.updated", { task_id: a.id, version: 3, changes: { status: "todo" } }),
    );
    expect(out).toEqual({ board: b0, changed: false });
  });

  it("applying a stream to a stale snapshot equals the fresh snapshot", () => {
    const a = task(1, "todo", "a");
    const b = task(2, "todo", "b");
    const stream = [
      event(2, "task.created", { task: task(3, "todo", "c") }),
      event(3, "task.updated", { task_id: a.id, version: 2, changes: { status: "done" } }),
      event(4, "task.deleted", { task_id: b.id }),
    ];
    let stale = board(a, b);
    for (const e of stream) {
      const out = applyEvent(stale, e);
      if (!out.reload) stale = out.board;
    }
    const fresh = board({ ...a, status: "done", version: 2 }, task(3, "todo", "c"));
    expect(stale).toEqual(fresh);
    // and replaying the same events again (resume overlap) changes nothing
    let again = stale;
    for (const e of stream) {
      const out = applyEvent(again, e);
      if (!out.reload) again = out.board;
    }
    expect(again).toEqual(fresh);
  });

  it("asks for a reload when the workflow changes or an unseen card updates", () => {
    expect(applyEvent(board(), event(2, "workflow.updated", {})).reload).toBe(true);
    expect(
      applyEvent(board(), event(2, "task.updated", { task_id: "x", version: 2, changes: {} })).reload,
    ).toBe(true);
  });

  it("re-sorts cards on tasks.reranked", () => {
    const a = task(1, "todo", "a");
    const b = task(2, "todo", "b");
    const out = applyEvent(board(a, b), event(2, "tasks.reranked", { ranks: { [a.id]: "c" } }));
    if (out.reload) throw new Error("unexpected reload");
    expect(ids(out.board, 0)).toEqual(["WEB-2", "WEB-1"]);
  });
});

describe("replay", () => {
  it("gives a snapshot taken before an event the event, and changes nothing after", () => {
    const a = task(1, "todo", "a");
    const created = event(2, "task.created", { task: task(2, "todo", "b") });
    const moved = event(3, "task.updated", { task_id: a.id, version: 2, changes: { status: "done" } });
    const stale = board(a);
    const fresh = board({ ...a, status: "done", version: 2 }, task(2, "todo", "b"));
    expect(replay(stale, [created, moved])).toEqual(fresh);
    expect(replay(fresh, [created, moved])).toEqual(fresh);
  });
});

describe("optimistic moves", () => {
  it("moves at once and reports the neighbours the API needs", () => {
    const a = task(1, "todo", "a");
    const b = task(2, "doing", "b");
    const c = task(3, "doing", "c");
    const { board: moved, move } = moveCard(board(a, b, c), a.id, "doing", 1);
    expect(move).not.toBeNull();
    expect(ids(moved, 1)).toEqual(["WEB-2", "WEB-1", "WEB-3"]);
    expect(neighbours(moved, a.id)).toEqual({ before_id: c.id });
  });

  it("rolls back only the moved card, keeping events that came meanwhile", () => {
    const a = task(1, "todo", "a");
    const b = task(2, "todo", "b");
    const start = board(a, b);
    const { board: moved, move } = moveCard(start, a.id, "done", 0);
    const meanwhile = applyEvent(
      moved,
      event(7, "task.created", { task: task(4, "doing", "x") }),
    );
    if (meanwhile.reload) throw new Error("unexpected reload");
    const back = rollback(meanwhile.board, move!);
    expect(ids(back, 0)).toEqual(["WEB-1", "WEB-2"]);
    expect(ids(back, 1)).toEqual(["WEB-4"]);
    expect(ids(back, 2)).toEqual([]);
    expect(back.columns.map((c) => c.count)).toEqual([2, 1, 0]);
  });

  it("does not roll back over a newer version of the card", () => {
    const a = task(1, "todo", "a");
    const { board: moved, move } = moveCard(board(a), a.id, "done", 0);
    const newer = applyEvent(
      moved,
      event(9, "task.updated", { task_id: a.id, version: 5, changes: { title: "Renamed" } }),
    );
    if (newer.reload) throw new Error("unexpected reload");
    expect(rollback(newer.board, move!)).toBe(newer.board);
  });

  it("confirm places the card by the server's rank and version", () => {
    const a = task(1, "todo", "a");
    const b = task(2, "doing", "b");
    const { board: moved } = moveCard(board(a, b), a.id, "doing", 0);
    const out = confirm(moved, { ...a, status: "doing", rank: "c", version: 2 });
    expect(ids(out, 1)).toEqual(["WEB-2", "WEB-1"]);
  });
});
