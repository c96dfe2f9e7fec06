/**
 * The API's shapes. Everything the OpenAPI document describes comes from the
 * generated `schema.d.ts` (run `make web` to regenerate); only the bodies the
 * server returns without a response model (board, workflow, comments, ...) are
 * written here, once.
 */
import type { components } from "./schema";

type S = components["schemas"];

export type Task = S["TaskOut"];
export type TaskPatch = S["TaskPatch"];
export type TaskIn = S["TaskIn"];
export type Project = S["ProjectOut"];
export type ProjectIn = S["ProjectIn"];
export type Me = S["MeOut"];
export type Tokens = S["TokensOut"];
export type SignupOut = S["SignupOut"];
export type Notification = S["NotificationOut"];
export type NotificationList = S["NotificationList"];
export type Priority = Task["priority"];

export const PRIORITIES: Priority[] = ["urgent", "high", "medium", "low", "none"];

export type Category = "todo" | "in_progress" | "done";

export interface Status {
  id: string;
  name: string;
  category: Category;
  color: string;
  wip_limit: number | null;
}

export interface Transition {
  from: string;
  to: string;
  name: string | null;
  roles: string[];
  conditions: ("assignee_set" | "estimate_set" | "subtasks_done")[];
}

export interface Workflow {
  version: number;
  statuses: Status[];
  transitions: Transition[];
}

export interface Column {
  status: Status;
  tasks: Task[];
  count: number;
}

export interface Board {
  workflow_version: number;
  columns: Column[];
}

export interface TaskTransitions {
  task_id: string;
  status: string;
  transitions: (Transition & { to_status: Status; blockers: string[] })[];
  unavailable: (Transition & { to_status: Status; blockers: string[] })[];
}

export interface Comment {
  id: string;
  task_id: string;
  author_id: string;
  body: string;
  body_html: string;
  created_at: string;
  updated_at: string;
  edited: boolean;
  mentions: string[];
}

export interface Attachment {
  id: string;
  task_id: string;
  uploader_id: string;
  filename: string;
  size: number;
  content_type: string;
  created_at: string;
  has_thumbnail: boolean;
}

export interface ActivityItem {
  version: number;
  event: string;
  actor_id: string;
  at: string;
  changes: { field: string; from: unknown; to: unknown }[];
}

export interface Sprint {
  id: string;
  name: string;
  goal: string;
  start_date: string | null;
  end_date: string | null;
  state: "planned" | "active" | "completed";
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** An RFC 9457 problem body as the API renders every error. */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  allowed?: string[];
  [key: string]: unknown;
}

/** A custom field definition (`GET /projects/{id}/fields`, `domain/custom_fields.py`). */
export type FieldType = "text" | "number" | "date" | "single_select" | "multi_select" | "user" | "url" | "checkbox";

export interface FieldOption {
  id: string;
  name: string;
  color: string;
}

export interface FieldDef {
  id: string;
  name: string;
  type: FieldType;
  required: boolean;
  default: unknown;
  options: FieldOption[];
  show_on_card: boolean;
}

export type OrgRole = "owner" | "admin" | "member" | "guest";
export type ProjectRole = "admin" | "member" | "viewer";

/** `GET /api/v1/members`. */
export interface OrgMember {
  user_id: string;
  email: string;
  name: string;
  role: OrgRole;
  joined_at: string;
}

/** `GET /api/v1/invitations` (pending ones). */
export interface Invitation {
  id: string;
  email: string;
  role: Exclude<OrgRole, "owner">;
  expires_at: string;
  created_at?: string;
  email_sent?: boolean;
}

export interface Team {
  id: string;
  name: string;
  member_ids?: string[];
}

/** `GET /api/v1/projects/{id}/members`: direct grants and linked teams. */
export interface ProjectMembers {
  users: { user_id: string; role: ProjectRole; email: string; name: string }[];
  teams: { team_id: string; role: ProjectRole; name: string }[];
}

/** `GET /api/v1/auth/oidc/providers`. */
export interface SsoProvider {
  name: string;
  label: string;
}
