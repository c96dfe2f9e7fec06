/**
 * The one websocket a signed-in tab keeps open (docs/realtime.md): it
 * authenticates with the `bearer.<token>` subprotocol, resubscribes every watched
 * project with `since` after a reconnect, repeats presence every 25 s, and hands
 * events, presence and notifications to whoever listens.
 */
import { loadSession, refreshSession } from "../api/session";
import { backoff, ProjectTracker, type ServerMessage } from "./tracker";
import type { ProjectEvent } from "../state/board";

export interface Viewer {
  user_id: string;
  task_id: string | null;
}

export interface ProjectHandlers {
  onEvent(event: ProjectEvent): void;
  /** The view must be reloaded over HTTP (snapshot_required or a gap we cannot fill). */
  onReload(): void;
  onViewers(viewers: Viewer[]): void;
  /** The subscription is live; `fresh` when it started from now (no `since`), so
   * a snapshot loaded before it may have missed events: load one after it. */
  onSubscribed?(fresh: boolean): void;
}

type Status = "connecting" | "live" | "offline";

const PRESENCE_EVERY_MS = 25_000;

class LiveConnection {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private timer: number | null = null;
  private projects = new Map<string, { tracker: ProjectTracker; handlers: ProjectHandlers; taskId: string | null; viewers: Map<string, Viewer> }>();
  private notificationListeners = new Set<(n: unknown) => void>();
  private statusListeners = new Set<(s: Status) => void>();
  private presenceTimer: number | null = null;
  private stopped = true;
  status: Status = "offline";

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
    this.presenceTimer = window.setInterval(() => this.sendPresenceAll(), PRESENCE_EVERY_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) window.clearTimeout(this.timer);
    if (this.presenceTimer !== null) window.clearInterval(this.presenceTimer);
    this.socket?.close(1000);
    this.socket = null;
    this.setStatus("offline");
  }

  private setStatus(status: Status): void {
    this.status = status;
    this.statusListeners.forEach((l) => l(status));
  }

  onStatus(listener: (s: Status) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  onNotification(listener: (n: unknown) => void): () => void {
    this.notificationListeners.add(listener);
    return () => this.notificationListeners.delete(listener);
  }

  /** Watch a project until the returned function is called. */
  watch(projectId: string, handlers: ProjectHandlers): () => void {
    const entry = { tracker: new ProjectTracker(projectId), handlers, taskId: null, viewers: new Map() };
    this.projects.set(projectId, entry);
    if (this.socket?.readyState === WebSocket.OPEN && this.status === "live") {
      this.send(entry.tracker.subscribeMessage());
      this.sendPresence(projectId);
    }
    return () => {
      if (this.projects.get(projectId) === entry) {
        this.projects.delete(projectId);
        this.send({ type: "unsubscribe", project_id: projectId });
      }
    };
  }

  /** Say which task (if any) this tab is looking at within a watched project. */
  look(projectId: string, taskId: string | null): void {
    const entry = this.projects.get(projectId);
    if (!entry || entry.taskId === taskId) return;
    entry.taskId = taskId;
    this.sendPresence(projectId);
  }

  /** The caller reloaded the view: start the subscription over from now. */
  resync(projectId: string): void {
    const entry = this.projects.get(projectId);
    if (!entry) return;
    entry.tracker.reset();
    this.send(entry.tracker.subscribeMessage());
  }

  private send(message: object): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private sendPresence(projectId: string): void {
    const entry = this.projects.get(projectId);
    if (entry) this.send({ type: "presence", project_id: projectId, task_id: entry.taskId });
  }

  private sendPresenceAll(): void {
    for (const id of this.projects.keys()) this.sendPresence(id);
  }

  private connect(): void {
    const session = loadSession();
    if (this.stopped || !session) return;
    this.setStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`, [
      "taskhive",
      `bearer.${session.access_token}`,
    ]);
    this.socket = socket;
    socket.onmessage = (e) => this.receive(JSON.parse(String(e.data)) as ServerMessage);
    socket.onclose = (e) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.setStatus("offline");
      if (this.stopped) return;
      const retry = () => {
        this.timer = window.setTimeout(() => this.connect(), backoff(this.attempt++));
      };
      // 4401: the access token expired or was revoked; refresh it first.
      if (e.code === 4401) void refreshSession().then((s) => s && retry());
      else retry();
    };
  }

  private receive(message: ServerMessage): void {
    if (message.type === "ready") {
      this.attempt = 0;
      this.setStatus("live");
      for (const [id, entry] of this.projects) {
        entry.viewers.clear();
        this.send(entry.tracker.subscribeMessage());
        this.sendPresence(id);
      }
      return;
    }
    if (message.type === "notification") {
      const n = (message as { notification?: unknown }).notification;
      this.notificationListeners.forEach((l) => l(n));
      return;
    }
    const projectId = (message as { project_id?: string }).project_id;
    const entry = projectId ? this.projects.get(projectId) : undefined;
    if (!entry) return;
    if (message.type === "presence") {
      const m = message as Extract<ServerMessage, { type: "presence" }>;
      if (m.viewers) {
        entry.viewers = new Map(m.viewers.map((v) => [v.user_id, v]));
      } else if (m.user_id) {
        if (m.state === "leave") entry.viewers.delete(m.user_id);
        else entry.viewers.set(m.user_id, { user_id: m.user_id, task_id: m.task_id ?? null });
      }
      entry.handlers.onViewers([...entry.viewers.values()]);
      return;
    }
    if (message.type === "error") {
      if ((message as { code?: string }).code === "access_revoked") entry.handlers.onReload();
      return;
    }
    const fresh = entry.tracker.version === null;
    const action = entry.tracker.handle(message);
    if (message.type === "subscribed") entry.handlers.onSubscribed?.(fresh);
    if (action.kind === "apply") entry.handlers.onEvent(action.event);
    else if (action.kind === "reload") entry.handlers.onReload();
  }
}

export const live = new LiveConnection();
export type { Status as LiveStatus };
