/**
 * Per-project resume bookkeeping for the websocket: which version the client has
 * applied, what to send on (re)subscribe, and what to do with each server
 * message. Pure, so reconnect behaviour is unit-tested without a socket.
 */
import type { ProjectEvent } from "../state/board";

export type ServerMessage =
  | { type: "ready"; user_id: string }
  | { type: "subscribed"; project_id: string; version: number }
  | { type: "snapshot_required"; project_id: string; version?: number; reason?: string }
  | ProjectEvent
  | {
      type: "presence";
      project_id: string;
      viewers?: { user_id: string; task_id: string | null }[];
      state?: "join" | "leave";
      user_id?: string;
      task_id?: string | null;
    }
  | { type: "error"; code: string; detail: string; project_id?: string }
  | { type: "pong" }
  | { type: string; [key: string]: unknown };

/** What the tracker wants done with a message. */
export type Action =
  | { kind: "apply"; event: ProjectEvent }
  | { kind: "reload" }
  | { kind: "ignore" };

export class ProjectTracker {
  /** The last project version applied; null until the first `subscribed`. */
  version: number | null = null;

  constructor(readonly projectId: string) {}

  /** The subscribe message: with `since` once something was applied, so a
   * reconnect replays exactly what was missed. */
  subscribeMessage(): { type: "subscribe"; project_id: string; since?: number } {
    return this.version === null
      ? { type: "subscribe", project_id: this.projectId }
      : { type: "subscribe", project_id: this.projectId, since: this.version };
  }

  /** A fresh snapshot was loaded: forget what we knew, the next subscribe starts now. */
  reset(): void {
    this.version = null;
  }

  handle(message: ServerMessage): Action {
    if ("project_id" in message && message.project_id !== this.projectId) return { kind: "ignore" };
    switch (message.type) {
      case "subscribed": {
        const v = Number((message as { version: number }).version);
        this.version = this.version === null ? v : Math.max(this.version, v);
        return { kind: "ignore" };
      }
      case "event": {
        const event = message as ProjectEvent;
        if (this.version !== null && event.version <= this.version) return { kind: "ignore" };
        this.version = event.version;
        return { kind: "apply", event };
      }
      case "snapshot_required":
        this.version = null;
        return { kind: "reload" };
      default:
        return { kind: "ignore" };
    }
  }
}

/** Delay before reconnect attempt `n` (0-based): exponential, capped, jittered. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 250 * 2 ** attempt);
  return Math.round(base / 2 + (random() * base) / 2);
}
