/** Backlog and sprints: plan work into sprints, start and complete them. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useParams, useSearchParams } from "react-router-dom";
import { api, describe } from "../api/client";
import { keys, useSprints, useWorkflow } from "../api/queries";
import type { Page, Sprint, Task } from "../api/types";
import { Avatar } from "../components/Avatar";
import { PriorityIcon } from "../components/icons";
import { toast } from "../components/toast";
import { TaskDrawer } from "./TaskDetail";

export function BacklogScreen() {
  const { projectId = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const queryClient = useQueryClient();
  const sprints = useSprints(projectId);
  const workflow = useWorkflow(projectId);
  const [name, setName] = useState("");
  const tasks = useQuery({
    queryKey: ["tasks", projectId, "backlog"],
    queryFn: async () => (await api<Page<Task>>("/api/v1/tasks", { query: { project_id: projectId, limit: 200 } })).items,
  });
  const openKey = params.get("task");
  const done = new Set(workflow.data?.statuses.filter((s) => s.category === "done").map((s) => s.id));

  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: keys.sprints(projectId) });
    void queryClient.invalidateQueries({ queryKey: ["tasks", projectId] });
  };

  async function act(path: string, body: unknown, ok: string) {
    try {
      await api(path, { method: "POST", body });
      toast("success", ok);
      refresh();
    } catch (error) {
      toast("error", "Not done", describe(error));
    }
  }

  async function create(e: FormEvent) {
    e.preventDefault();
    if (!name.trim()) return;
    await act(`/api/v1/projects/${projectId}/sprints`, { name: name.trim() }, "Sprint created");
    setName("");
  }

  const open = (t: Task) => setParams((p) => { const n = new URLSearchParams(p); n.set("task", t.key); return n; });
  const live = (sprints.data ?? []).filter((s) => s.state !== "completed");
  const backlog = (tasks.data ?? []).filter((t) => !t.sprint_id && !done.has(t.status));

  function Row({ t }: { t: Task }) {
    return (
      <li className="backlog-row">
        <PriorityIcon priority={t.priority} />
        <span className="card-key">{t.key}</span>
        <button className="link row-title" onClick={() => open(t)}>{t.title}</button>
        {t.estimate != null && <span className="estimate">{t.estimate}</span>}
        <Avatar userId={t.assignee_id} size={20} />
        <select
          aria-label={`Sprint for ${t.key}`}
          value={t.sprint_id ?? ""}
          onChange={(e) => {
            const to = e.target.value;
            const body = to ? { add: [t.id] } : { remove: [t.id] };
            void act(`/api/v1/projects/${projectId}/sprints/${to || t.sprint_id}/tasks`, body, to ? "Added to sprint" : "Moved to backlog");
          }}
        >
          <option value="">Backlog</option>
          {live.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
        </select>
      </li>
    );
  }

  return (
    <div className="page">
      <div className="page-head">
        <h1>Backlog</h1>
        <form className="inline-form" onSubmit={create}>
          <input aria-label="New sprint name" placeholder="Sprint name" value={name} onChange={(e) => setName(e.target.value)} />
          <button className="btn btn-primary">Create sprint</button>
        </form>
      </div>
      {sprints.error && <div className="form-error">{describe(sprints.error)}</div>}
      {live.map((s: Sprint) => {
        const mine = (tasks.data ?? []).filter((t) => t.sprint_id === s.id);
        const points = mine.reduce((n, t) => n + (t.estimate ?? 0), 0);
        return (
          <section key={s.id} className="sprint">
            <header>
              <h2>{s.name}</h2>
              <span className={`sprint-state sprint-${s.state}`}>{s.state}</span>
              <span className="muted small">{mine.length} tasks · {points} points{s.goal && ` · ${s.goal}`}</span>
              <div className="grow" />
              {s.state === "planned" && <button className="btn btn-small" onClick={() => void act(`/api/v1/projects/${projectId}/sprints/${s.id}/start`, {}, "Sprint started")}>Start sprint</button>}
              {s.state === "active" && <button className="btn btn-small" onClick={() => void act(`/api/v1/projects/${projectId}/sprints/${s.id}/complete`, { move_to: "backlog" }, "Sprint completed")}>Complete sprint</button>}
            </header>
            <ul className="backlog-list">{mine.map((t) => <Row key={t.id} t={t} />)}</ul>
            {mine.length === 0 && <p className="muted small">Plan tasks into this sprint from the backlog below.</p>}
          </section>
        );
      })}
      <section className="sprint">
        <header>
          <h2>Backlog</h2>
          <span className="muted small">{backlog.length} open tasks not in a sprint</span>
        </header>
        <ul className="backlog-list">{backlog.map((t) => <Row key={t.id} t={t} />)}</ul>
      </section>
      {openKey && <TaskDrawer taskRef={openKey} onClose={() => setParams((p) => { const n = new URLSearchParams(p); n.delete("task"); return n; })} />}
    </div>
  );
}
