/** One card on the board: key, title, priority, labels, estimate, assignee, and
 * the custom fields the project shows on cards. */
import { useSortable } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import type { Task } from "../api/types";
import { Avatar } from "./Avatar";
import { CardFields } from "./CardFields";
import { PriorityIcon } from "./icons";

interface CardProps {
  task: Task;
  labelColours: ReadonlyMap<string, string>;
  selected?: boolean;
  flashing?: boolean;
  overlay?: boolean;
  onOpen?: (task: Task) => void;
}

export function CardBody({ task, labelColours }: Pick<CardProps, "task" | "labelColours">) {
  return (
    <>
      <div className="card-top">
        <span className="card-key">{task.key}</span>
        <Avatar userId={task.assignee_id} size={20} />
      </div>
      <div className="card-title">{task.title}</div>
      <div className="card-meta">
        <PriorityIcon priority={task.priority} />
        {task.labels.map((l) => (
          <span key={l} className="label-chip">
            <i style={{ background: labelColours.get(l) ?? "#8a8f98" }} />
            {l}
          </span>
        ))}
        {task.estimate != null && <span className="estimate" title="Estimate">{task.estimate}</span>}
      </div>
      <CardFields task={task} />
    </>
  );
}

export function TaskCard({ task, labelColours, selected, flashing, onOpen }: CardProps) {
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({
    id: task.id,
    data: { status: task.status },
  });
  const style = { transform: CSS.Translate.toString(transform), transition };
  return (
    <article
      ref={setNodeRef}
      style={style}
      className={`card${isDragging ? " card-ghost" : ""}${selected ? " card-selected" : ""}${flashing ? " card-flash" : ""}`}
      data-testid="card"
      data-key={task.key}
      data-status={task.status}
      aria-label={`${task.key} ${task.title}`}
      {...attributes}
      {...listeners}
      onClick={() => onOpen?.(task)}
      onKeyDown={(e) => {
        listeners?.onKeyDown?.(e);
        if (e.key === "Enter" && !e.defaultPrevented) onOpen?.(task);
      }}
    >
      <CardBody task={task} labelColours={labelColours} />
    </article>
  );
}
