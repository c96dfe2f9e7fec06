/**
 * Who has which role in a project: direct grants (`/projects/{id}/members`) and
 * linked teams (the project's `team_ids`, each with the role its members get).
 * Project admins change them; for everyone else the controls are disabled and
 * the server would answer 403 anyway.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, describe } from "../api/client";
import { keys, useMe, useMembers, useProject, useProjectMembers, useTeams } from "../api/queries";
import type { ProjectRole } from "../api/types";
import { Avatar } from "./Avatar";
import { toast } from "./toast";

export const PROJECT_ROLES: ProjectRole[] = ["admin", "member", "viewer"];

export function ProjectMembers({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const me = useMe();
  const grants = useProjectMembers(projectId);
  const project = useProject(projectId);
  const members = useMembers();
  const teams = useTeams();
  const [userId, setUserId] = useState("");
  const [userRole, setUserRole] = useState<ProjectRole>("member");
  const [teamId, setTeamId] = useState("");
  const [teamRole, setTeamRole] = useState<ProjectRole>("member");
  const base = `/api/v1/projects/${projectId}`;

  // Project admins manage roles, as `domain/permissions.effective_role` makes
  // them: organisation owners and admins, the project's owner, an admin grant
  // (direct or through a team).
  const orgAdmin = me.data?.role === "owner" || me.data?.role === "admin";
  const myTeams = new Set(me.data?.team_ids ?? []);
  const projectAdmin =
    (grants.data?.users.some((u) => u.user_id === me.data?.id && u.role === "admin") ?? false) ||
    (grants.data?.teams.some((t) => myTeams.has(t.team_id) && t.role === "admin") ?? false);
  const canManage = orgAdmin || projectAdmin || project.data?.owner_id === me.data?.id;

  async function run(what: string, call: () => Promise<unknown>): Promise<boolean> {
    try {
      await call();
      void queryClient.invalidateQueries({ queryKey: keys.projectMembers(projectId) });
      return true;
    } catch (error) {
      toast("error", what, describe(error));
      return false;
    }
  }

  async function addUser() {
    if (!userId) return;
    if (await run("Member not added", () => api(`${base}/members`, { method: "POST", body: { user_id: userId, role: userRole } }))) {
      setUserId("");
      toast("success", "Member added");
    }
  }

  async function linkTeam() {
    if (!teamId || !project.data) return;
    const ids = [...new Set([...project.data.team_ids, teamId])];
    const ok = await run("Team not added", async () => {
      await api(base, { method: "PATCH", body: { team_ids: ids } });
      // A team joins with the member role; set another one right after.
      if (teamRole !== "member") await api(`${base}/teams/${teamId}`, { method: "PUT", body: { role: teamRole } });
    });
    void queryClient.invalidateQueries({ queryKey: keys.project(projectId) });
    if (ok) setTeamId("");
  }

  async function unlinkTeam(id: string) {
    if (!project.data) return;
    await run("Team not removed", () => api(base, { method: "PATCH", body: { team_ids: project.data!.team_ids.filter((t) => t !== id) } }));
    void queryClient.invalidateQueries({ queryKey: keys.project(projectId) });
  }

  const direct = new Set(grants.data?.users.map((u) => u.user_id));
  const linked = new Set(grants.data?.teams.map((t) => t.team_id));
  const addable = (members.data ?? []).filter((m) => !direct.has(m.user_id));
  const linkable = (teams.data ?? []).filter((t) => !linked.has(t.id));

  return (
    <section className="settings-card" aria-label="Project members">
      <h2>Project members</h2>
      <p className="muted small">
        Roles here add to the organisation role: viewers read, members edit tasks, admins also change settings, fields and roles.
      </p>
      <ul className="people-list">
        {grants.data?.users.map((u) => (
          <li key={u.user_id} data-testid="project-member" data-email={u.email}>
            <Avatar userId={u.user_id} size={26} />
            <span className="person"><strong>{u.name}</strong><span className="muted small">{u.email}</span></span>
            <select
              aria-label={`Project role of ${u.name}`}
              value={u.role}
              disabled={!canManage}
              onChange={(e) => void run("Role not changed", () => api(`${base}/members/${u.user_id}`, { method: "PATCH", body: { role: e.target.value } }))}
            >
              {PROJECT_ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
            <button className="icon-btn" aria-label={`Remove ${u.name} from the project`} disabled={!canManage}
              onClick={() => void run("Member not removed", () => api(`${base}/members/${u.user_id}`, { method: "DELETE" }))}>
              ×
            </button>
          </li>
        ))}
        {grants.data?.teams.map((t) => (
          <li key={t.team_id} data-testid="project-team">
            <span className="team-badge" aria-hidden>#</span>
            <span className="person"><strong>{t.name}</strong><span className="muted small">team</span></span>
            <select
              aria-label={`Project role of team ${t.name}`}
              value={t.role}
              disabled={!canManage}
              onChange={(e) => void run("Role not changed", () => api(`${base}/teams/${t.team_id}`, { method: "PUT", body: { role: e.target.value } }))}
            >
              {PROJECT_ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
            <button className="icon-btn" aria-label={`Remove team ${t.name} from the project`} disabled={!canManage} onClick={() => void unlinkTeam(t.team_id)}>
              ×
            </button>
          </li>
        ))}
        {grants.data && grants.data.users.length + grants.data.teams.length === 0 && (
          <li className="muted small">No one has a project role yet: members of the organisation have their organisation role.</li>
        )}
      </ul>
      {canManage && (
        <div className="grant-forms">
          <form className="inline-form" onSubmit={(e) => { e.preventDefault(); void addUser(); }} aria-label="Add a project member">
            <select aria-label="Person to add" value={userId} onChange={(e) => setUserId(e.target.value)}>
              <option value="">Add a person…</option>
              {addable.map((m) => <option key={m.user_id} value={m.user_id}>{m.name} ({m.email})</option>)}
            </select>
            <select aria-label="Role for the person" value={userRole} onChange={(e) => setUserRole(e.target.value as ProjectRole)}>
              {PROJECT_ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
            <button className="btn" disabled={!userId}>Add member</button>
          </form>
          {teams.data && (
            <form className="inline-form" onSubmit={(e) => { e.preventDefault(); void linkTeam(); }} aria-label="Add a team">
              <select aria-label="Team to add" value={teamId} onChange={(e) => setTeamId(e.target.value)}>
                <option value="">{linkable.length ? "Add a team…" : "No other teams"}</option>
                {linkable.map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
              </select>
              <select aria-label="Role for the team" value={teamRole} onChange={(e) => setTeamRole(e.target.value as ProjectRole)}>
                {PROJECT_ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
              </select>
              <button className="btn" disabled={!teamId}>Add team</button>
            </form>
          )}
        </div>
      )}
    </section>
  );
}
