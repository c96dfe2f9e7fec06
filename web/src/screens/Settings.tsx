/**
 * Project settings: details and WIP mode, the workflow editor, labels, custom
 * fields, the project's members and teams, and the organisation's members and
 * invitations.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useParams } from "react-router-dom";
import { api, describe } from "../api/client";
import { keys, useLabels, useProject } from "../api/queries";
import type { Project } from "../api/types";
import { FieldsEditor } from "../components/FieldsEditor";
import { OrgMembers } from "../components/OrgMembers";
import { ProjectMembers } from "../components/ProjectMembers";
import { toast } from "../components/toast";
import { WorkflowEditor } from "../components/WorkflowEditor";

export function SettingsScreen() {
  const { projectId = "" } = useParams();
  return (
    <div className="page settings">
      <ProjectDetails projectId={projectId} />
      <WorkflowEditor projectId={projectId} />
      <LabelsEditor projectId={projectId} />
      <FieldsEditor projectId={projectId} />
      <ProjectMembers projectId={projectId} />
      <OrgMembers />
    </div>
  );
}

function ProjectDetails({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const project = useProject(projectId);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [wip, setWip] = useState("enforce");
  useEffect(() => {
    if (!project.data) return;
    setName(project.data.name);
    setDescription(project.data.description);
    setWip(project.data.settings?.wip_mode === "warn" ? "warn" : "enforce");
  }, [project.data]);

  async function save() {
    try {
      const saved = await api<Project>(`/api/v1/projects/${projectId}`, {
        method: "PATCH",
        body: { name, description, settings: { ...(project.data?.settings ?? {}), wip_mode: wip } },
      });
      queryClient.setQueryData(keys.project(projectId), saved);
      void queryClient.invalidateQueries({ queryKey: keys.projects });
      toast("success", "Project saved");
    } catch (error) {
      toast("error", "Not saved", describe(error));
    }
  }

  return (
    <section className="settings-card">
      <h2>Project</h2>
      <div className="form">
        <div className="form-row">
          <label className="grow">Name<input value={name} onChange={(e) => setName(e.target.value)} /></label>
          <label className="key-field">Key<input value={project.data?.key ?? ""} disabled /></label>
        </div>
        <label>Description<textarea rows={2} value={description} onChange={(e) => setDescription(e.target.value)} /></label>
        <label>
          WIP limits
          <select value={wip} onChange={(e) => setWip(e.target.value)}>
            <option value="enforce">Enforce: refuse moves past a limit</option>
            <option value="warn">Warn: allow, but flag the column</option>
          </select>
        </label>
        <div><button className="btn btn-primary" onClick={() => void save()}>Save</button></div>
      </div>
    </section>
  );
}

function LabelsEditor({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const labels = useLabels(projectId);
  const [name, setName] = useState("");
  const [color, setColor] = useState("#1f6feb");
  async function put(next: { name: string; color: string }[]) {
    try {
      await api(`/api/v1/projects/${projectId}/labels`, { method: "PUT", body: { labels: next } });
      void queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
    } catch (error) {
      toast("error", "Labels not saved", describe(error));
    }
  }
  return (
    <section className="settings-card">
      <h2>Labels</h2>
      <div className="label-picker">
        {labels.data?.map((l) => (
          <span key={l.name} className="label-chip">
            <i style={{ background: l.color }} />
            {l.name}
            <button className="icon-btn tiny" aria-label={`Remove label ${l.name}`} onClick={() => void put(labels.data!.filter((x) => x.name !== l.name))}>×</button>
          </span>
        ))}
      </div>
      <form className="inline-form" onSubmit={(e) => { e.preventDefault(); if (name.trim()) { void put([...(labels.data ?? []), { name: name.trim(), color }]); setName(""); } }}>
        <input type="color" aria-label="Label colour" value={color} onChange={(e) => setColor(e.target.value)} />
        <input aria-label="New label" placeholder="New label" value={name} onChange={(e) => setName(e.target.value)} />
        <button className="btn">Add label</button>
      </form>
    </section>
  );
}
