/**
 * A task in full: every field editable in place, saved with `If-Match` so a
 * concurrent edit is never overwritten silently (412 shows the current version
 * and offers to apply the change again), transitions, comments with @mentions,
 * attachments, custom fields, subtasks and history. A drawer over the board, full-screen on a
 * phone, or a page of its own at /tasks/KEY.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, ApiError, describe } from "../api/client";
import { keys, useLabels, useMe, useTask, useTransitions, useWorkflow } from "../api/queries";
import { PRIORITIES, type Board, type Page, type Priority, type Task, type TaskPatch } from "../api/types";
import { Attachments } from "../components/Attachments";
import { Avatar } from "../components/Avatar";
import { CustomFields } from "../components/CustomFields";
import { TaskActivity } from "../components/TaskActivity";
import { TaskComments } from "../components/TaskComments";
import { toast } from "../components/toast";
import { confirm } from "../state/board";
import { mergedValues } from "../state/fields";
import { renderMarkdown } from "../state/markdown";
import { personOf, usePeople } from "../state/people";

export function TaskPage() {
  const { taskRef = "" } = useParams();
  const navigate = useNavigate();
  return (
    <div className="page task-page">
      <TaskDetail taskRef={taskRef} onClose={() => navigate(-1)} />
    </div>
  );
}

export function TaskDrawer({ taskRef, onClose }: { taskRef: string; onClose: () => void }) {
  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if (e.key === "Escape" && !document.querySelector(".overlay")) onClose();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="drawer-scrim" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <aside className="drawer" role="dialog" aria-label={`Task ${taskRef}`} data-testid="task-drawer">
        <TaskDetail taskRef={taskRef} onClose={onClose} />
      </aside>
    </div>
  );
}

interface ConflictState {
  attempted: TaskPatch;
  current: Task;
}

function TaskDetail({ taskRef, onClose }: { taskRef: string; onClose: () => void }) {
  const queryClient = useQueryClient();
  const task = useTask(taskRef);
  const me = useMe();
  const [conflict, setConflict] = useState<ConflictState | null>(null);

  async function save(changes: TaskPatch, base?: Task) {
    const current = base ?? task.data;
    if (!current) return;
    const key = keys.task(taskRef);
    const optimistic = { ...current, ...(changes as Partial<Task>) };
    if (changes.custom_fields) optimistic.custom_fields = mergedValues(current.custom_fields, changes.custom_fields);
    queryClient.setQueryData<Task>(key, optimistic);
    try {
      const saved = await api<Task>(`/api/v1/tasks/${current.id}`, { method: "PATCH", body: changes, ifMatch: current.version });
      queryClient.setQueryData(key, saved);
      queryClient.setQueryData<Board>(keys.board(saved.project_id), (b) => (b ? confirm(b, saved) : b));
      setConflict(null);
    } catch (error) {
      queryClient.setQueryData(key, current); // roll back
      if (error instanceof ApiError && error.status === 412) {
        const fresh = await api<Task>(`/api/v1/tasks/${current.id}`);
        queryClient.setQueryData(key, fresh);
        setConflict({ attempted: changes, current: fresh });
      } else {
        toast("error", "Not saved", describe(error));
      }
    }
  }

  if (task.isLoading) return <div className="detail"><div className="skeleton detail-skeleton" /></div>;
  if (task.error || !task.data) {
    return (
      <div className="detail">
        <div className="detail-head">
          <button className="icon-btn" onClick={onClose} aria-label="Close">×</button>
        </div>
        <div className="form-error">{describe(task.error)}</div>
      </div>
    );
  }
  const t = task.data;
  return (
    <div className="detail" data-testid="task-detail" data-key={t.key}>
      <div className="detail-head">
        <Link to={`/tasks/${t.key}`} className="card-key">{t.key}</Link>
        <span className="muted small">v{t.version}</span>
        <div className="grow" />
        <button className="icon-btn" onClick={onClose} aria-label="Close task">×</button>
      </div>
      {conflict && (
        <div className="conflict" role="alert" data-testid="conflict">
          <strong>Someone else changed this task — here is the current version.</strong>
          <span>
            Your change ({Object.keys(conflict.attempted).join(", ")}) was not saved, so that theirs is not lost.
          </span>
          <div className="conflict-actions">
            <button className="btn btn-primary" onClick={() => void save(conflict.attempted, conflict.current)}>
              Apply my change again
            </button>
            <button className="btn" onClick={() => setConflict(null)}>
              Keep theirs
            </button>
          </div>
        </div>
      )}
      <EditableTitle task={t} onSave={(title) => save({ title })} />
      <div className="detail-grid">
        <div className="detail-main">
          <Description task={t} onSave={(description) => save({ description })} />
          <Subtasks task={t} />
          <Attachments taskRef={t.id} />
          <TaskComments taskRef={t.id} selfId={me.data?.id} />
          <TaskActivity taskRef={t.id} projectId={t.project_id} />
        </div>
        <Fields task={t} role={me.data?.role ?? "member"} selfId={me.data?.id} onSave={save} />
      </div>
    </div>
  );
}

function EditableTitle({ task, onSave }: { task: Task; onSave: (title: string) => void }) {
  const [value, setValue] = useState(task.title);
  useEffect(() => setValue(task.title), [task.title]);
  return (
    <input
      className="title-input"
      aria-label="Title"
      value={value}
      onChange={(e) => setValue(e.target.value)}
      onBlur={() => value.trim() && value !== task.title && onSave(value.trim())}
      onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
    />
  );
}

function Description({ task, onSave }: { task: Task; onSave: (d: string) => void }) {
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(task.description);
  useEffect(() => setValue(task.description), [task.description]);
  if (editing) {
    return (
      <div className="section">
        <textarea aria-label="Description" className="description-input" rows={8} value={value} autoFocus onChange={(e) => setValue(e.target.value)} />
        <div className="row-actions">
          <button className="btn btn-primary" onClick={() => { onSave(value); setEditing(false); }}>Save</button>
          <button className="btn" onClick={() => { setValue(task.description); setEditing(false); }}>Cancel</button>
        </div>
      </div>
    );
  }
  return (
    <div className="section description" onClick={() => setEditing(true)} role="button" tabIndex={0} aria-label="Edit description" onKeyDown={(e) => e.key === "Enter" && setEditing(true)}>
      {task.description ? (
        <div className="markdown" dangerouslySetInnerHTML={{ __html: renderMarkdown(task.description) }} />
      ) : (
        <span className="muted">Add a description…</span>
      )}
    </div>
  );
}

function Fields({ task, role, selfId, onSave }: { task: Task; role: string; selfId?: string; onSave: (c: TaskPatch) => Promise<void> }) {
  const queryClient = useQueryClient();
  const workflow = useWorkflow(task.project_id);
  const labels = useLabels(task.project_id);
  const transitions = useTransitions(task.id, task.version);
  const people = usePeople();
  const status = workflow.data?.statuses.find((s) => s.id === task.status);

  async function transition(to: string) {
    try {
      const saved = await api<Task>(`/api/v1/tasks/${task.id}/transitions`, { method: "POST", body: { to } });
      queryClient.setQueryData(keys.task(task.key), saved);
      queryClient.setQueryData(keys.task(task.id), saved);
      queryClient.setQueryData<Board>(keys.board(task.project_id), (b) => (b ? confirm(b, saved) : b));
    } catch (error) {
      toast("error", "Transition refused", describe(error));
    }
  }

  const assignees = new Map<string, string>();
  if (selfId) assignees.set(selfId, `${personOf(people, selfId)!.name} (me)`);
  for (const p of [...people.values()].sort((x, y) => x.name.localeCompare(y.name))) {
    if (!assignees.has(p.id)) assignees.set(p.id, p.name);
  }
  if (task.assignee_id && !assignees.has(task.assignee_id)) assignees.set(task.assignee_id, personOf(people, task.assignee_id)!.name);

  return (
    <aside className="detail-side" aria-label="Fields">
      <div className="field">
        <span className="field-label">Status</span>
        <span className="status-chip big">
          <i style={{ background: status?.color }} />
          {status?.name ?? task.status}
        </span>
        <div className="transition-list">
          {transitions.data?.transitions.map((t) => (
            <button key={t.to} className="btn btn-small" onClick={() => void transition(t.to)}>
              {t.name ?? `→ ${t.to_status.name}`}
            </button>
          ))}
          {transitions.data?.unavailable.map((t) => (
            <button key={t.to} className="btn btn-small" disabled title={t.blockers.join("; ")}>
              {t.name ?? `→ ${t.to_status.name}`}
            </button>
          ))}
        </div>
        {role === "guest" && <span className="hint">Guests may not be allowed every transition.</span>}
      </div>
      <label className="field">
        <span className="field-label">Priority</span>
        <select value={task.priority} onChange={(e) => void onSave({ priority: e.target.value as Priority })}>
          {PRIORITIES.map((p) => <option key={p} value={p}>{PRIORITY_NAMES[p]}</option>)}
        </select>
      </label>
      <label className="field">
        <span className="field-label">Assignee</span>
        <span className="assignee-row">
          <Avatar userId={task.assignee_id} size={22} />
          <select value={task.assignee_id ?? ""} onChange={(e) => void onSave({ assignee_id: e.target.value || null })}>
            <option value="">Unassigned</option>
            {[...assignees].map(([id, name]) => <option key={id} value={id}>{name}</option>)}
          </select>
        </span>
      </label>
      <label className="field">
        <span className="field-label">Estimate</span>
        <input
          type="number"
          min={0}
          step="0.5"
          defaultValue={task.estimate ?? ""}
          key={`est-${task.version}`}
          onBlur={(e) => {
            const v = e.target.value === "" ? null : Number(e.target.value);
            if (v !== task.estimate) void onSave({ estimate: v });
          }}
        />
      </label>
      <label className="field">
        <span className="field-label">Due date</span>
        <input type="date" value={task.due_date ?? ""} onChange={(e) => void onSave({ due_date: e.target.value || null })} />
      </label>
      <div className="field">
        <span className="field-label">Labels</span>
        <div className="label-picker">
          {(labels.data ?? []).map((l) => {
            const on = task.labels.includes(l.name);
            return (
              <button
                key={l.name}
                className={`label-chip toggle${on ? " on" : ""}`}
                aria-pressed={on}
                onClick={() => void onSave({ labels: on ? task.labels.filter((x) => x !== l.name) : [...task.labels, l.name] })}
              >
                <i style={{ background: l.color }} />
                {l.name}
              </button>
            );
          })}
          {labels.data?.length === 0 && <span className="muted small">No labels in this project</span>}
        </div>
      </div>
      <CustomFields task={task} onSave={onSave} />
      <div className="field meta small muted">
        <span>Created {new Date(task.created_at).toLocaleString()}</span>
        <span>Updated {new Date(task.updated_at).toLocaleString()}</span>
      </div>
    </aside>
  );
}

function Subtasks({ task }: { task: Task }) {
  const queryClient = useQueryClient();
  const [title, setTitle] = useState("");
  const children = useQuery({
    queryKey: ["task", "children", task.id],
    queryFn: async () => (await api<Page<Task>>("/api/v1/tasks", { query: { project_id: task.project_id, parent_id: task.id, limit: 200 } })).items,
  });
  async function add() {
    if (!title.trim()) return;
    try {
      await api<Task>("/api/v1/tasks", { method: "POST", body: { project_id: task.project_id, title: title.trim(), parent_id: task.id } });
      setTitle("");
      void queryClient.invalidateQueries({ queryKey: ["task", "children", task.id] });
    } catch (error) {
      toast("error", "Subtask not created", describe(error));
    }
  }
  return (
    <section className="section" aria-label="Subtasks">
      <h3>Subtasks {children.data && children.data.length > 0 && <span className="muted">{children.data.length}</span>}</h3>
      <ul className="subtasks">
        {children.data?.map((c) => (
          <li key={c.id}>
            <Link to={`/tasks/${c.key}`} className="card-key">{c.key}</Link> {c.title}
            <span className="muted small"> · {c.status}</span>
          </li>
        ))}
      </ul>
      <form className="inline-form" onSubmit={(e) => { e.preventDefault(); void add(); }}>
        <input aria-label="New subtask" placeholder="Add a subtask…" value={title} onChange={(e) => setTitle(e.target.value)} />
      </form>
    </section>
  );
}

const PRIORITY_NAMES: Record<Priority, string> = { urgent: "Urgent", high: "High", medium: "Medium", low: "Low", none: "No priority" };
