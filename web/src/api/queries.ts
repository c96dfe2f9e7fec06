/** Query keys and fetchers, so every screen reads and invalidates the same cache entries. */
import { useQuery } from "@tanstack/react-query";
import { api, ApiError } from "./client";
import type {
  ActivityItem,
  Attachment,
  Board,
  Comment,
  FieldDef,
  Invitation,
  Me,
  NotificationList,
  OrgMember,
  Page,
  Project,
  ProjectMembers,
  Sprint,
  SsoProvider,
  Task,
  TaskTransitions,
  Team,
  Workflow,
} from "./types";
import { learn } from "../state/people";

export const keys = {
  me: ["me"] as const,
  projects: ["projects"] as const,
  project: (id: string) => ["project", id] as const,
  board: (id: string) => ["board", id] as const,
  workflow: (id: string) => ["workflow", id] as const,
  labels: (id: string) => ["labels", id] as const,
  task: (ref: string) => ["task", ref] as const,
  transitions: (ref: string) => ["transitions", ref] as const,
  comments: (ref: string) => ["comments", ref] as const,
  attachments: (ref: string) => ["attachments", ref] as const,
  activity: (ref: string) => ["activity", ref] as const,
  notifications: ["notifications"] as const,
  sprints: (id: string) => ["sprints", id] as const,
  tasks: (id: string, filter: string) => ["tasks", id, filter] as const,
  fields: (id: string) => ["fields", id] as const,
  members: ["members"] as const,
  invitations: ["invitations"] as const,
  teams: ["teams"] as const,
  projectMembers: (id: string) => ["project-members", id] as const,
  ssoProviders: ["sso-providers"] as const,
};

export function useMe() {
  return useQuery({
    queryKey: keys.me,
    queryFn: async () => {
      const me = await api<Me>("/api/v1/users/me");
      learn({ id: me.id, name: me.name, email: me.email });
      return me;
    },
    staleTime: 300_000,
  });
}

/** The organisation's directory (`GET /api/v1/members`), fed into the people store.
 * Guests may not read it (403): they see people by what the client learns. */
export function useMembers() {
  return useQuery({
    queryKey: keys.members,
    staleTime: 300_000,
    retry: false,
    queryFn: async () => {
      const body = await api<{ items: OrgMember[] }>("/api/v1/members");
      for (const m of body.items) learn({ id: m.user_id, name: m.name, email: m.email });
      return body.items;
    },
  });
}

export function useOrgs() {
  return useQuery({
    queryKey: ["orgs"],
    staleTime: 300_000,
    queryFn: () =>
      api<{ items: { org_id?: string; id?: string; name: string; role: string }[]; current_org_id: string }>("/api/v1/users/me/orgs"),
  });
}

export function useProjects() {
  return useQuery({
    queryKey: keys.projects,
    queryFn: async () => (await api<{ items: Project[] }>("/api/v1/projects")).items,
  });
}

export function useProject(id: string) {
  return useQuery({ queryKey: keys.project(id), queryFn: () => api<Project>(`/api/v1/projects/${id}`) });
}

export function useBoard(id: string) {
  return useQuery({
    queryKey: keys.board(id),
    queryFn: () => api<Board>(`/api/v1/projects/${id}/board`),
    // Fresh on every screen that shows it (no events arrive while no board is
    // open), then kept fresh by the websocket while it is.
    staleTime: Infinity,
    refetchOnMount: "always",
  });
}

export function useWorkflow(id: string) {
  return useQuery({
    queryKey: keys.workflow(id),
    queryFn: () => api<Workflow>(`/api/v1/projects/${id}/workflow`),
    staleTime: Infinity,
  });
}

export function useLabels(id: string) {
  return useQuery({
    queryKey: keys.labels(id),
    queryFn: async () => {
      const body = await api<{ labels: { name: string; color: string }[] }>(`/api/v1/projects/${id}/labels`);
      return body.labels ?? [];
    },
  });
}

export function useTask(ref: string) {
  return useQuery({ queryKey: keys.task(ref), queryFn: () => api<Task>(`/api/v1/tasks/${ref}`) });
}

export function useTransitions(ref: string, version: number | undefined) {
  return useQuery({
    queryKey: [...keys.transitions(ref), version],
    queryFn: () => api<TaskTransitions>(`/api/v1/tasks/${ref}/transitions`),
    enabled: version !== undefined,
  });
}

export function useComments(ref: string) {
  return useQuery({
    queryKey: keys.comments(ref),
    queryFn: async () => (await api<Page<Comment>>(`/api/v1/tasks/${ref}/comments`, { query: { limit: 200 } })).items,
  });
}

export function useAttachments(ref: string) {
  return useQuery({
    queryKey: keys.attachments(ref),
    queryFn: async () => (await api<{ items: Attachment[] }>(`/api/v1/tasks/${ref}/attachments`)).items,
  });
}

export function useActivity(ref: string) {
  return useQuery({
    queryKey: keys.activity(ref),
    queryFn: async () => (await api<Page<ActivityItem>>(`/api/v1/tasks/${ref}/activity`, { query: { limit: 100 } })).items,
  });
}

export function useNotifications(enabled: boolean) {
  return useQuery({
    queryKey: keys.notifications,
    queryFn: () => api<NotificationList>("/api/v1/notifications", { query: { limit: 30 } }),
    enabled,
    staleTime: 60_000,
  });
}

export function useSprints(id: string) {
  return useQuery({
    queryKey: keys.sprints(id),
    queryFn: async () => {
      const body = await api<{ items: Sprint[] } | Sprint[]>(`/api/v1/projects/${id}/sprints`);
      return Array.isArray(body) ? body : body.items;
    },
  });
}

/** True when the server does not have an endpoint (yet): screens degrade instead of failing. */
export function isMissing(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405);
}

/** A project's custom field definitions, kept fresh by `fields.updated` events. */
export function useFields(projectId: string) {
  return useQuery({
    queryKey: keys.fields(projectId),
    queryFn: async () => (await api<{ items: FieldDef[] }>(`/api/v1/projects/${projectId}/fields`)).items,
    staleTime: 300_000,
  });
}

/** Direct grants and linked teams of a project (anyone who can read it). */
export function useProjectMembers(projectId: string) {
  return useQuery({
    queryKey: keys.projectMembers(projectId),
    queryFn: () => api<ProjectMembers>(`/api/v1/projects/${projectId}/members`),
  });
}

/** The organisation's teams (not for guests: 403, not retried). */
export function useTeams() {
  return useQuery({
    queryKey: keys.teams,
    retry: false,
    queryFn: async () => (await api<{ items: Team[] }>("/api/v1/teams")).items,
  });
}

/** Pending invitations; only owners and admins may read them. */
export function useInvitations(enabled: boolean) {
  return useQuery({
    queryKey: keys.invitations,
    enabled,
    retry: false,
    queryFn: async () => (await api<{ items: Invitation[] }>("/api/v1/invitations")).items,
  });
}

/** The single sign-on providers configured on this server (public). An older
 * server without the endpoint has none. */
export function useSsoProviders() {
  return useQuery({
    queryKey: keys.ssoProviders,
    staleTime: Infinity,
    retry: false,
    queryFn: async () => {
      try {
        return (await api<{ items: SsoProvider[] }>("/api/v1/auth/oidc/providers")).items;
      } catch (error) {
        if (isMissing(error)) return [];
        throw error;
      }
    },
  });
}
