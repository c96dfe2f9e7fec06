/** Create a task (`c` on the board). */
import { useState, type FormEvent } from "react";
import { api, describe } from "../api/client";
import { PRIORITIES, type Priority, type Status, type Task, type TaskIn } from "../api/types";
import { Dialog } from "./Dialog";

export function NewTaskDialog({
  projectId,
  statuses,
  initialStatus,
  onClose,
  onCreated,
}: {
  projectId: string;
  statuses: Status[];
  initialStatus?: string;
  onClose: () => void;
  onCreated: (task: Task) => void;
}) {
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [priority, setPriority] = useState<Priority>("none");
  const [estimate, setEstimate] = useState("");
  const [status, setStatus] = useState(initialStatus ?? statuses[0]?.id);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      const body: TaskIn = {
        project_id: projectId,
        title: title.trim(),
        description,
        priority,
        status,
        estimate: estimate === "" ? null : Number(estimate),
      };
      const task = await api<Task>("/api/v1/tasks", { method: "POST", body });
      onCreated(task);
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title="New task" onClose={onClose}>
      <form className="form" onSubmit={submit}>
        <label>
          Title
          <input name="title" required maxLength={255} value={title} onChange={(e) => setTitle(e.target.value)} placeholder="What needs doing?" />
        </label>
        <label>
          Description
          <textarea name="description" rows={4} value={description} onChange={(e) => setDescription(e.target.value)} placeholder="Markdown supported" />
        </label>
        <div className="form-row">
          <label>
            Status
            <select value={status} onChange={(e) => setStatus(e.target.value)}>
              {statuses.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Priority
            <select value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </label>
          <label>
            Estimate
            <input type="number" min={0} step="0.5" value={estimate} onChange={(e) => setEstimate(e.target.value)} />
          </label>
        </div>
        {error != null && <div className="form-error" role="alert">{describe(error)}</div>}
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" disabled={busy || !title.trim()}>
            Create task
          </button>
        </div>
      </form>
    </Dialog>
  );
}
