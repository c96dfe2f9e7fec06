/**
 * Pure board state: applying the server's event diffs, and optimistic moves with
 * their rollback. Everything here returns new objects (the query cache compares
 * by identity) and is safe to apply twice: an event whose task version is not
 * newer than the card's is ignored, so a snapshot fetched while events were in
 * flight converges to the same board as one fetched afterwards.
 */
import type { Board, Column, Task } from "../api/types";

/** One websocket `event` message (docs/realtime.md). */
export interface ProjectEvent {
  type: "event";
  project_id: string;
  version: number;
  event: string;
  actor_id: string | null;
  task_id: string | null;
  created_at: string;
  payload: Record<string, unknown>;
}

/** What an event means for a board: changed, unchanged, or "reload it". */
export type Applied = { board: Board; changed: boolean; reload?: false } | { reload: true };

const RELOAD_EVENTS = new Set(["workflow.updated", "labels.updated", "project.deleted"]);

function keyNumber(task: Task): number {
  const n = Number(task.key.slice(task.key.lastIndexOf("-") + 1));
  return Number.isFinite(n) ? n : 0;
}

/** Cards in rank order (ties broken by task number, as the server does). */
export function byRank(a: Task, b: Task): number {
  if (a.rank < b.rank) return -1;
  if (a.rank > b.rank) return 1;
  return keyNumber(a) - keyNumber(b);
}

export function findTask(board: Board, taskId: string): { column: number; index: number } | null {
  for (let c = 0; c < board.columns.length; c++) {
    const index = board.columns[c].tasks.findIndex((t) => t.id === taskId);
    if (index >= 0) return { column: c, index };
  }
  return null;
}

function without(board: Board, taskId: string): { board: Board; removed: Task | null } {
  const at = findTask(board, taskId);
  if (!at) return { board, removed: null };
  const columns = board.columns.map((col, i) =>
    i === at.column
      ? { ...col, tasks: col.tasks.filter((t) => t.id !== taskId), count: col.count - 1 }
      : col,
  );
  return { board: { ...board, columns }, removed: board.columns[at.column].tasks[at.index] };
}

function placed(board: Board, task: Task): Board {
  const columns = board.columns.map((col): Column => {
    if (col.status.id !== task.status) return col;
    return { ...col, tasks: [...col.tasks, task].sort(byRank), count: col.count + 1 };
  });
  return { ...board, columns };
}

/** Put `task` where its status and rank say, replacing any older copy of it. */
export function upsertTask(board: Board, task: Task): Board {
  return placed(without(board, task.id).board, task);
}

/** Apply one event to a board; unrelated events leave it unchanged. */
export function applyEvent(board: Board, event: ProjectEvent): Applied {
  if (RELOAD_EVENTS.has(event.event)) return { reload: true };
  const p = event.payload;
  switch (event.event) {
    case "task.created": {
      const task = p.task as Task | undefined;
      if (!task || findTask(board, task.id)) return { board, changed: false };
      return { board: placed(board, task), changed: true };
    }
    case "task.updated": {
      const taskId = String(p.task_id ?? event.task_id);
      const at = findTask(board, taskId);
      if (!at) return { reload: true }; // a card this view never had (filtered or paged)
      const current = board.columns[at.column].tasks[at.index];
      const version = Number(p.version);
      if (version <= current.version) return { board, changed: false };
      const changes = (p.changes ?? {}) as Partial<Task>;
      return { board: upsertTask(board, { ...current, ...changes, version }), changed: true };
    }
    case "task.deleted": {
      const taskId = String(p.task_id ?? event.task_id);
      const next = without(board, taskId);
      return { board: next.board, changed: next.removed !== null };
    }
    case "tasks.reranked": {
      const ranks = (p.ranks ?? {}) as Record<string, string>;
      let next = board;
      for (const [taskId, rank] of Object.entries(ranks)) {
        const at = findTask(next, taskId);
        if (at) next = upsertTask(next, { ...next.columns[at.column].tasks[at.index], rank });
      }
      return { board: next, changed: next !== board };
    }
    default:
      return { board, changed: false };
  }
}

/**
 * Replay events onto a board just fetched. The fetch may have been answered
 * from a state older than events already received; replaying them is a no-op
 * for whatever the snapshot already has.
 */
export function replay(board: Board, events: readonly ProjectEvent[]): Board {
  let next = board;
  for (const event of events) {
    const out = applyEvent(next, event);
    if (!out.reload) next = out.board;
  }
  return next;
}

/** An optimistic move: the card goes to `status` at `index` before the server says so. */
export interface PendingMove {
  taskId: string;
  from: { status: string; index: number };
  to: { status: string; index: number };
  /** The card as it was, to put back on rollback. */
  before: Task;
}

export function moveCard(board: Board, taskId: string, status: string, index: number): {
  board: Board;
  move: PendingMove | null;
} {
  const at = findTask(board, taskId);
  if (!at) return { board, move: null };
  const before = board.columns[at.column].tasks[at.index];
  const fromStatus = board.columns[at.column].status.id;
  const removed = without(board, taskId).board;
  const columns = removed.columns.map((col): Column => {
    if (col.status.id !== status) return col;
    const tasks = [...col.tasks];
    tasks.splice(Math.max(0, Math.min(index, tasks.length)), 0, { ...before, status });
    return { ...col, tasks, count: col.count + 1 };
  });
  return {
    board: { ...removed, columns },
    move: { taskId, from: { status: fromStatus, index: at.index }, to: { status, index }, before },
  };
}

/** Neighbours of the card at its new place: what `POST /tasks/{id}/move` needs. */
export function neighbours(board: Board, taskId: string): { before_id?: string; after_id?: string } {
  const at = findTask(board, taskId);
  if (!at) return {};
  const tasks = board.columns[at.column].tasks;
  const next = tasks[at.index + 1];
  const prev = tasks[at.index - 1];
  if (next) return { before_id: next.id };
  if (prev) return { after_id: prev.id };
  return {};
}

/**
 * Undo a refused move. Only the moved card is touched: events that arrived in
 * the meantime (other cards) stay applied. A card that changed since (a newer
 * version) is left as the server has it.
 */
export function rollback(board: Board, move: PendingMove): Board {
  const at = findTask(board, move.taskId);
  if (at) {
    const current = board.columns[at.column].tasks[at.index];
    if (current.version > move.before.version) return board;
  }
  const removed = without(board, move.taskId).board;
  const columns = removed.columns.map((col): Column => {
    if (col.status.id !== move.from.status) return col;
    const tasks = [...col.tasks];
    tasks.splice(Math.min(move.from.index, tasks.length), 0, move.before);
    return { ...col, tasks, count: col.count + 1 };
  });
  return { ...removed, columns };
}

/** Confirm a move with the task the server answered (its new rank and version). */
export function confirm(board: Board, task: Task): Board {
  const at = findTask(board, task.id);
  if (at && board.columns[at.column].tasks[at.index].version > task.version) return board;
  return upsertTask(board, task);
}
