/** A workflow status as a board column, a drop target that says when it refuses. */
import { useDroppable } from "@dnd-kit/core";
import { SortableContext, verticalListSortingStrategy } from "@dnd-kit/sortable";
import { useState, type FormEvent } from "react";
import type { Column, Task } from "../api/types";
import { TaskCard } from "./TaskCard";

interface Props {
  column: Column;
  labelColours: ReadonlyMap<string, string>;
  /** While dragging: null when this column accepts the card, else why not. */
  refusal: string | null | undefined;
  dragging: boolean;
  selectedId: string | null;
  flashing: ReadonlySet<string>;
  onOpen: (task: Task) => void;
  onQuickAdd: (status: string, title: string) => Promise<void>;
}

export function BoardColumn({ column, labelColours, refusal, dragging, selectedId, flashing, onOpen, onQuickAdd }: Props) {
  const { status } = column;
  const { setNodeRef, isOver } = useDroppable({ id: `col:${status.id}`, data: { status: status.id } });
  const [adding, setAdding] = useState(false);
  const [title, setTitle] = useState("");
  const overLimit = status.wip_limit != null && column.count > status.wip_limit;
  const atLimit = status.wip_limit != null && column.count === status.wip_limit;
  const refused = dragging && refusal != null;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!title.trim()) return;
    await onQuickAdd(status.id, title.trim());
    setTitle("");
  }

  return (
    <section
      ref={setNodeRef}
      className={`column${refused ? " column-refused" : ""}${dragging && !refused ? " column-accepts" : ""}${isOver ? " column-over" : ""}`}
      aria-label={`${status.name}, ${column.count} tasks`}
      data-testid="column"
      data-status={status.id}
      data-refused={refused ? "true" : undefined}
      data-over={isOver ? "true" : undefined}
    >
      <header className="column-head">
        <span className="status-dot" style={{ background: status.color }} />
        <h2>{status.name}</h2>
        <span className={`count${overLimit ? " count-over" : atLimit ? " count-at" : ""}`} title={status.wip_limit != null ? `WIP limit ${status.wip_limit}` : undefined}>
          {column.count}
          {status.wip_limit != null && <> / {status.wip_limit}</>}
        </span>
        <button className="icon-btn add-btn" aria-label={`Add a task to ${status.name}`} onClick={() => setAdding(true)}>
          +
        </button>
      </header>
      {overLimit && <div className="wip-warning">Over the WIP limit of {status.wip_limit}</div>}
      <SortableContext items={column.tasks.map((t) => t.id)} strategy={verticalListSortingStrategy}>
        <div className="column-body">
          {column.tasks.map((task) => (
            <TaskCard
              key={task.id}
              task={task}
              labelColours={labelColours}
              selected={task.id === selectedId}
              flashing={flashing.has(task.id)}
              onOpen={onOpen}
            />
          ))}
          {column.tasks.length === 0 && !adding && <div className="column-empty">No tasks</div>}
          {column.count > column.tasks.length && (
            <div className="column-more muted">+{column.count - column.tasks.length} more in the list view</div>
          )}
        </div>
      </SortableContext>
      {adding ? (
        <form className="quick-add" onSubmit={submit}>
          <input
            autoFocus
            aria-label={`New task in ${status.name}`}
            placeholder="Task title, then Enter"
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            onBlur={() => !title && setAdding(false)}
            onKeyDown={(e) => e.key === "Escape" && setAdding(false)}
          />
        </form>
      ) : (
        <button className="quick-add-btn" onClick={() => setAdding(true)}>
          + Add task
        </button>
      )}
    </section>
  );
}
