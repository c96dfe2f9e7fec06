/** The organisation's projects, and creating one from a workflow template. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, describe } from "../api/client";
import { keys, useProjects } from "../api/queries";
import type { Project, ProjectIn } from "../api/types";
import { Dialog } from "../components/Dialog";

/** What the form sends: the server fills in every other field's default. */
type ProjectCreate = Pick<ProjectIn, "name" | "workflow_template"> & Partial<ProjectIn>;

const TEMPLATES: { id: ProjectIn["workflow_template"]; name: string; blurb: string; statuses: [string, string][] }[] = [
  {
    id: "kanban",
    name: "Kanban",
    blurb: "Continuous flow, any move allowed.",
    statuses: [["Backlog", "#8a8f98"], ["Todo", "#1f6feb"], ["In Progress", "#d29922"], ["In Review", "#8957e5"], ["Done", "#2da44e"]],
  },
  {
    id: "scrum",
    name: "Scrum",
    blurb: "Sprints with a simple three-step flow.",
    statuses: [["To Do", "#1f6feb"], ["In Progress", "#d29922"], ["Done", "#2da44e"]],
  },
  {
    id: "bug_tracking",
    name: "Bug tracking",
    blurb: "Triage, fix, verify; transitions are guarded.",
    statuses: [["New", "#8a8f98"], ["Triaged", "#1f6feb"], ["In Progress", "#d29922"], ["Fixed", "#8957e5"], ["Verified", "#2da44e"], ["Won't Fix", "#cf222e"]],
  },
];

function suggestKey(name: string): string {
  const words = name.toUpperCase().replace(/[^A-Z ]/g, " ").split(/\s+/).filter(Boolean);
  const key = words.length > 1 ? words.map((w) => w[0]).join("") : (words[0] ?? "").slice(0, 4);
  return key.length >= 2 ? key.slice(0, 10) : "";
}

export function ProjectsScreen() {
  const projects = useProjects();
  const [creating, setCreating] = useState(false);
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Projects</h1>
          <p className="muted">Everything your organisation is working on.</p>
        </div>
        <button className="btn btn-primary" onClick={() => setCreating(true)}>
          New project
        </button>
      </div>
      {projects.isLoading && <div className="skeleton-grid" aria-busy="true" />}
      {projects.error && <div className="form-error">{describe(projects.error)}</div>}
      {projects.data?.length === 0 && (
        <div className="empty">
          <h2>No projects yet</h2>
          <p className="muted">Create a project to get a board, a backlog and reports.</p>
          <button className="btn btn-primary" onClick={() => setCreating(true)}>
            Create your first project
          </button>
        </div>
      )}
      <ul className="project-grid">
        {projects.data?.map((p) => (
          <li key={p.id}>
            <Link to={`/projects/${p.id}/board`} className="project-card">
              <span className="project-key">{p.key}</span>
              <strong>{p.name}</strong>
              <span className="muted clamp">{p.description || "No description"}</span>
            </Link>
          </li>
        ))}
      </ul>
      {creating && <CreateProject onClose={() => setCreating(false)} />}
    </div>
  );
}

function CreateProject({ onClose }: { onClose: () => void }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [key, setKey] = useState("");
  const [keyEdited, setKeyEdited] = useState(false);
  const [description, setDescription] = useState("");
  const [template, setTemplate] = useState<ProjectIn["workflow_template"]>("kanban");
  const [visibility, setVisibility] = useState<ProjectIn["visibility"]>("org");
  const create = useMutation({
    mutationFn: (body: ProjectCreate) => api<Project>("/api/v1/projects", { method: "POST", body }),
    onSuccess: (project) => {
      void queryClient.invalidateQueries({ queryKey: keys.projects });
      navigate(`/projects/${project.id}/board`);
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({
      name: name.trim(),
      key: (keyEdited ? key : suggestKey(name)) || undefined,
      description,
      workflow_template: template,
      visibility,
    });
  }

  return (
    <Dialog title="New project" onClose={onClose} wide>
      <form className="form" onSubmit={submit}>
        <div className="form-row">
          <label className="grow">
            Name
            <input
              name="project-name"
              required
              maxLength={120}
              value={name}
              onChange={(e) => setName(e.target.value)}
              placeholder="Website relaunch"
            />
          </label>
          <label className="key-field">
            Key
            <input
              name="project-key"
              value={keyEdited ? key : suggestKey(name)}
              onChange={(e) => {
                setKeyEdited(true);
                setKey(e.target.value.toUpperCase());
              }}
              pattern="[A-Z]{2,10}"
              title="2 to 10 capital letters"
              placeholder="WEB"
            />
          </label>
        </div>
        <label>
          Description
          <textarea rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <label>
          Who can see it
          <select name="visibility" value={visibility} onChange={(e) => setVisibility(e.target.value as ProjectIn["visibility"])}>
            <option value="org">Everyone in the organisation</option>
            <option value="private">Only people added to the project</option>
          </select>
        </label>
        <fieldset className="templates">
          <legend>Workflow</legend>
          {TEMPLATES.map((t) => (
            <label key={t.id} className={`template${template === t.id ? " selected" : ""}`}>
              <input type="radio" name="template" value={t.id} checked={template === t.id} onChange={() => setTemplate(t.id)} />
              <strong>{t.name}</strong>
              <span className="muted">{t.blurb}</span>
              <span className="template-statuses">
                {t.statuses.map(([s, c]) => (
                  <span key={s} className="status-chip">
                    <i style={{ background: c }} />
                    {s}
                  </span>
                ))}
              </span>
            </label>
          ))}
        </fieldset>
        {create.error && <div className="form-error" role="alert">{describe(create.error)}</div>}
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button className="btn btn-primary" disabled={create.isPending || !name.trim()}>
            {create.isPending ? "Creating…" : "Create project"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
