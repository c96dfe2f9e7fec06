/**
 * The board: columns from the workflow, drag and drop within and across them
 * (pointer, touch and keyboard), refused targets shown while dragging, moves
 * applied at once and rolled back with the server's reason when refused, and
 * other people's changes arriving live.
 */
import {
  closestCorners,
  DndContext,
  DragOverlay,
  KeyboardSensor,
  PointerSensor,
  pointerWithin,
  TouchSensor,
  useSensor,
  useSensors,
  type CollisionDetection,
  type DragEndEvent,
  type DragOverEvent,
  type DragStartEvent,
} from "@dnd-kit/core";
import { sortableKeyboardCoordinates } from "@dnd-kit/sortable";
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useState } from "react";
import { useParams, useSearchParams } from "react-router-dom";
import { api, describe } from "../api/client";
import { keys, useBoard, useLabels, useMe, useProject, useWorkflow } from "../api/queries";
import type { Board, Task } from "../api/types";
import { BoardColumn } from "../components/BoardColumn";
import { NewTaskDialog } from "../components/NewTaskDialog";
import { Presence } from "../components/Presence";
import { CardBody } from "../components/TaskCard";
import { toast } from "../components/toast";
import { live } from "../realtime/live";
import { confirm, findTask, moveCard, neighbours, rollback } from "../state/board";
import { isTyping } from "../state/keys";
import { useLiveBoard } from "../state/useLiveBoard";
import { dropTargets } from "../state/workflow";
import { TaskDrawer } from "./TaskDetail";

/** Prefer the card under the pointer, then the column under it, then the nearest. */
const collision: CollisionDetection = (args) => {
  const within = pointerWithin(args);
  const cards = within.filter((c) => !String(c.id).startsWith("col:"));
  if (cards.length) return cards;
  if (within.length) return within;
  return closestCorners(args);
};

export function BoardScreen() {
  const { projectId = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const queryClient = useQueryClient();
  const me = useMe();
  const project = useProject(projectId);
  const board = useBoard(projectId);
  const workflow = useWorkflow(projectId);
  const labels = useLabels(projectId);
  const { viewers, flashing } = useLiveBoard(projectId, me.data?.id);
  const [active, setActive] = useState<Task | null>(null);
  const [overStatus, setOverStatus] = useState<string | null>(null);
  const [creating, setCreating] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const openKey = params.get("task");

  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 5 } }),
    useSensor(TouchSensor, { activationConstraint: { delay: 180, tolerance: 8 } }),
    // Space picks a card up and drops it; Enter stays free to open the card.
    useSensor(KeyboardSensor, {
      coordinateGetter: sortableKeyboardCoordinates,
      keyboardCodes: { start: ["Space"], cancel: ["Escape"], end: ["Space", "Enter"] },
    }),
  );

  const labelColours = useMemo(() => new Map((labels.data ?? []).map((l) => [l.name, l.color])), [labels.data]);
  const wipMode = project.data?.settings?.wip_mode === "warn" ? "warn" : "enforce";
  const refusals = useMemo(() => {
    if (!active || !workflow.data || !board.data) return new Map<string, string | null>();
    return dropTargets(workflow.data, board.data, active, me.data?.role ?? "member", wipMode);
  }, [active, workflow.data, board.data, me.data?.role, wipMode]);

  const open = useCallback(
    (task: Task) => {
      setSelected(task.id);
      setParams((p) => {
        const next = new URLSearchParams(p);
        next.set("task", task.key);
        return next;
      });
    },
    [setParams],
  );
  const close = useCallback(() => {
    setParams((p) => {
      const next = new URLSearchParams(p);
      next.delete("task");
      return next;
    });
  }, [setParams]);

  // Presence says which task this tab has open.
  const openTaskId = useMemo(() => {
    if (!openKey || !board.data) return null;
    for (const c of board.data.columns) for (const t of c.tasks) if (t.key === openKey) return t.id;
    return null;
  }, [openKey, board.data]);
  useEffect(() => live.look(projectId, openTaskId), [projectId, openTaskId]);

  // j/k walk the cards in board order, e/Enter opens, c creates.
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if (isTyping(e) || e.metaKey || e.ctrlKey || e.altKey || document.querySelector("[role=dialog]")) return;
      const cards = board.data?.columns.flatMap((c) => c.tasks) ?? [];
      const at = cards.findIndex((t) => t.id === selected);
      if (e.key === "c") {
        e.preventDefault();
        setCreating(board.data?.columns[0]?.status.id ?? "");
      } else if (e.key === "j" || e.key === "k") {
        e.preventDefault();
        const next = cards[Math.max(0, Math.min(cards.length - 1, at + (e.key === "j" ? 1 : -1)))];
        if (next) {
          setSelected(next.id);
          document.querySelector(`[data-key="${next.key}"]`)?.scrollIntoView({ block: "nearest", inline: "nearest" });
        }
      } else if ((e.key === "e" || e.key === "Enter") && at >= 0 && !openKey) {
        e.preventDefault();
        open(cards[at]);
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [board.data, selected, open, openKey]);

  function onDragStart(e: DragStartEvent) {
    const b = queryClient.getQueryData<Board>(keys.board(projectId));
    const at = b && findTask(b, String(e.active.id));
    setActive(at ? b.columns[at.column].tasks[at.index] : null);
  }

  function onDragOver(e: DragOverEvent) {
    const id = e.over ? String(e.over.id) : null;
    const b = queryClient.getQueryData<Board>(keys.board(projectId));
    if (!id || !b) return setOverStatus(null);
    if (id.startsWith("col:")) return setOverStatus(id.slice(4));
    const at = findTask(b, id);
    setOverStatus(at ? b.columns[at.column].status.id : null);
  }

  function onDragEnd(e: DragEndEvent) {
    const task = active;
    setActive(null);
    setOverStatus(null);
    const current = queryClient.getQueryData<Board>(keys.board(projectId));
    if (!task || !e.over || !current) return;
    const overId = String(e.over.id);
    let status: string;
    let index: number;
    if (overId.startsWith("col:")) {
      status = overId.slice(4);
      const col = current.columns.find((c) => c.status.id === status);
      index = col ? col.tasks.filter((t) => t.id !== task.id).length : 0;
    } else {
      const at = findTask(current, overId);
      if (!at) return;
      status = current.columns[at.column].status.id;
      index = at.index;
    }
    const refusal = refusals.get(status);
    if (refusal) {
      const target = current.columns.find((c) => c.status.id === status)?.status.name ?? status;
      toast("error", `${task.key} can’t move to ${target}`, refusal);
      return;
    }
    const from = findTask(current, task.id);
    if (from && current.columns[from.column].status.id === status && from.index === index) return;
    const { board: next, move } = moveCard(current, task.id, status, index);
    if (!move) return;
    queryClient.setQueryData(keys.board(projectId), next);
    const body = { status: status !== task.status ? status : undefined, ...neighbours(next, task.id) };
    api<Task>(`/api/v1/tasks/${task.id}/move`, { method: "POST", body })
      .then((saved) => queryClient.setQueryData<Board>(keys.board(projectId), (b) => (b ? confirm(b, saved) : b)))
      .catch((error) => {
        queryClient.setQueryData<Board>(keys.board(projectId), (b) => (b ? rollback(b, move) : b));
        toast("error", `${task.key} was not moved`, describe(error));
      });
  }

  async function quickAdd(status: string, title: string) {
    try {
      const task = await api<Task>("/api/v1/tasks", { method: "POST", body: { project_id: projectId, title, status } });
      queryClient.setQueryData<Board>(keys.board(projectId), (b) => (b ? confirm(b, task) : b));
    } catch (error) {
      toast("error", "The task was not created", describe(error));
    }
  }

  if (board.error) return <div className="page"><div className="form-error">{describe(board.error)}</div></div>;

  return (
    <div className="board-page">
      <div className="board-toolbar">
        <h1 className="board-title">{project.data?.name ?? "Board"}</h1>
        <Presence viewers={viewers} selfId={me.data?.id} />
        <div className="grow" />
        <LiveBadge />
        <button className="btn btn-primary" onClick={() => setCreating(board.data?.columns[0]?.status.id ?? "")}>
          New task <kbd>C</kbd>
        </button>
      </div>
      {board.isLoading ? (
        <div className="board board-loading" aria-busy="true">
          {[0, 1, 2, 3].map((i) => <div key={i} className="column skeleton" />)}
        </div>
      ) : (
        <DndContext sensors={sensors} collisionDetection={collision} onDragStart={onDragStart} onDragOver={onDragOver} onDragEnd={onDragEnd} onDragCancel={() => { setActive(null); setOverStatus(null); }}>
          <div className="board" data-testid="board">
            {board.data?.columns.map((column) => (
              <BoardColumn
                key={column.status.id}
                column={column}
                labelColours={labelColours}
                refusal={refusals.get(column.status.id)}
                dragging={active !== null}
                selectedId={selected}
                flashing={flashing}
                onOpen={open}
                onQuickAdd={quickAdd}
              />
            ))}
          </div>
          <DragOverlay dropAnimation={{ duration: 160, easing: "ease-out" }}>
            {active && (
              <div className="overlay-stack">
                <article className={`card card-overlay${overStatus && refusals.get(overStatus) ? " card-refused" : ""}`}>
                  <CardBody task={active} labelColours={labelColours} />
                </article>
                {overStatus && refusals.get(overStatus) && (
                  <div className="overlay-refusal" role="alert" data-testid="drag-refusal">
                    {refusals.get(overStatus)}
                  </div>
                )}
              </div>
            )}
          </DragOverlay>
        </DndContext>
      )}
      {creating !== null && workflow.data && (
        <NewTaskDialog
          projectId={projectId}
          statuses={workflow.data.statuses}
          initialStatus={creating || undefined}
          onClose={() => setCreating(null)}
          onCreated={(task) => queryClient.setQueryData<Board>(keys.board(projectId), (b) => (b ? confirm(b, task) : b))}
        />
      )}
      {openKey && <TaskDrawer taskRef={openKey} onClose={close} />}
    </div>
  );
}

function LiveBadge() {
  const [status, setStatus] = useState(live.status);
  useEffect(() => live.onStatus(setStatus), []);
  const text = { live: "Live", connecting: "Connecting…", offline: "Offline" }[status];
  return (
    <span className={`live-badge live-${status}`} data-testid="live-status" data-status={status} title="Real-time updates">
      <i />
      {text}
    </span>
  );
}
