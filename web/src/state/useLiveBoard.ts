/**
 * Keeps a project's board in the query cache in step with the websocket: each
 * event is applied as a diff; anything the diff cannot express reloads the
 * board. Cards someone else just changed are returned so they can flash.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { keys } from "../api/queries";
import type { Board } from "../api/types";
import { live, type Viewer } from "../realtime/live";
import { applyEvent, replay, type ProjectEvent } from "./board";

const LOG_LIMIT = 500;

export function useLiveBoard(projectId: string, selfId: string | undefined) {
  const queryClient = useQueryClient();
  const [viewers, setViewers] = useState<Viewer[]>([]);
  const [flashing, setFlashing] = useState<ReadonlySet<string>>(new Set());
  const self = useRef(selfId);
  self.current = selfId;

  useEffect(() => {
    const timers = new Set<number>();
    const flash = (taskId: string) => {
      setFlashing((s) => new Set(s).add(taskId));
      const timer = window.setTimeout(() => {
        timers.delete(timer);
        setFlashing((s) => {
          const next = new Set(s);
          next.delete(taskId);
          return next;
        });
      }, 1600);
      timers.add(timer);
    };
    const reload = () => {
      void queryClient.invalidateQueries({ queryKey: keys.board(projectId) });
      void queryClient.invalidateQueries({ queryKey: keys.workflow(projectId) });
    };
    // Every event since the subscription started, replayed onto each board fetched
    // afterwards: a snapshot taken before an event committed but answered after
    // it arrived would otherwise lose it. Replays are idempotent (task versions).
    const log: ProjectEvent[] = [];
    const unsubscribeCache = queryClient.getQueryCache().subscribe((e) => {
      if (e.type !== "updated" || e.action.type !== "success" || e.action.manual) return;
      const key = e.query.queryKey;
      if (key[0] !== "board" || key[1] !== projectId || !log.length) return;
      const fetched = e.query.state.data as Board | undefined;
      if (!fetched) return;
      const next = replay(fetched, log);
      if (next !== fetched) queryClient.setQueryData(keys.board(projectId), next);
    });
    const stop = live.watch(projectId, {
      onSubscribed(fresh) {
        if (fresh) void queryClient.invalidateQueries({ queryKey: keys.board(projectId) });
      },
      onEvent(event) {
        log.push(event);
        if (log.length > LOG_LIMIT) log.shift();
        const board = queryClient.getQueryData<Board>(keys.board(projectId));
        if (board) {
          const out = applyEvent(board, event);
          if (out.reload) reload();
          else if (out.changed) {
            queryClient.setQueryData(keys.board(projectId), out.board);
            if (event.task_id && event.actor_id !== self.current) flash(event.task_id);
          }
        }
        if (event.event.startsWith("task.") || event.event.startsWith("attachment.")) {
          void queryClient.invalidateQueries({ queryKey: ["task"] });
          void queryClient.invalidateQueries({ queryKey: ["transitions"] });
          void queryClient.invalidateQueries({ queryKey: ["activity"] });
          void queryClient.invalidateQueries({ queryKey: ["attachments"] });
        }
        if (event.event.startsWith("comment.")) void queryClient.invalidateQueries({ queryKey: ["comments"] });
        if (event.event.startsWith("sprint.")) void queryClient.invalidateQueries({ queryKey: keys.sprints(projectId) });
        if (event.event === "labels.updated") void queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
        if (event.event === "fields.updated") void queryClient.invalidateQueries({ queryKey: keys.fields(projectId) });
      },
      onReload() {
        log.length = 0;
        reload();
        live.resync(projectId);
      },
      onViewers(list) {
        setViewers(list);
        // Someone the directory does not have yet (a new member): look them up again.
        const known = queryClient.getQueryData<{ user_id: string }[]>(["members"]);
        if (known && list.some((v) => !known.some((m) => m.user_id === v.user_id))) {
          void queryClient.invalidateQueries({ queryKey: ["members"] });
        }
      },
    });
    return () => {
      stop();
      unsubscribeCache();
      timers.forEach((t) => window.clearTimeout(t));
    };
  }, [projectId, queryClient]);

  return { viewers, flashing };
}
