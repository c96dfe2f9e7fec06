/** The notifications bell: a live unread count and the inbox. */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { useNavigate } from "react-router-dom";
import { api } from "../api/client";
import { keys, useNotifications } from "../api/queries";
import type { Notification } from "../api/types";
import { Avatar } from "./Avatar";
import { BellIcon } from "./icons";

function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function Bell() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const inbox = useNotifications(true);
  const ref = useRef<HTMLDivElement>(null);
  const unread = inbox.data?.unread_count ?? 0;
  // The count stops at 1,000; `unread_more` says there are more.
  const many = unread > 99 || Boolean(inbox.data?.unread_more);

  useEffect(() => {
    if (!open) return;
    function onDown(e: MouseEvent) {
      if (!ref.current?.contains(e.target as Node)) setOpen(false);
    }
    function onKey(e: KeyboardEvent) {
      if (e.key === "Escape") setOpen(false);
    }
    document.addEventListener("mousedown", onDown);
    window.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      window.removeEventListener("keydown", onKey);
    };
  }, [open]);

  async function openItem(n: Notification) {
    setOpen(false);
    if (!n.read_at) {
      await api(`/api/v1/notifications/${n.id}/read`, { method: "POST" }).catch(() => undefined);
      void queryClient.invalidateQueries({ queryKey: keys.notifications });
    }
    const key = (n.payload as { task_key?: string }).task_key;
    if (n.task_id) navigate(`/projects/${n.project_id}/board?task=${key ?? n.task_id}`);
  }

  async function readAll() {
    await api("/api/v1/notifications/read-all", { method: "POST" });
    void queryClient.invalidateQueries({ queryKey: keys.notifications });
  }

  return (
    <div className="bell" ref={ref}>
      <button
        className="icon-btn bell-btn"
        aria-label={
          unread ? `Notifications, ${unread}${inbox.data?.unread_more ? "+" : ""} unread` : "Notifications"
        }
        aria-expanded={open}
        onClick={() => setOpen((v) => !v)}
        data-testid="bell"
      >
        <BellIcon />
        {unread > 0 && (
          <span className="badge" data-testid="unread-count">
            {many ? "99+" : unread}
          </span>
        )}
      </button>
      {open && (
        <div className="popover inbox" role="dialog" aria-label="Notifications">
          <div className="popover-head">
            <strong>Inbox</strong>
            <button className="link" onClick={() => void readAll()} disabled={!unread}>
              Mark all read
            </button>
          </div>
          <ul>
            {inbox.data?.items.map((n) => (
              <li key={n.id}>
                <button className={`inbox-item${n.read_at ? "" : " unread"}`} onClick={() => void openItem(n)} data-testid="notification">
                  <Avatar userId={n.actor_id} size={26} />
                  <span className="inbox-text">
                    <strong>{n.title}</strong>
                    <span className="muted">{n.summary}</span>
                  </span>
                  <span className="muted small">{ago(n.created_at)}</span>
                </button>
              </li>
            ))}
            {inbox.data?.items.length === 0 && <li className="inbox-empty muted">You are all caught up.</li>}
          </ul>
        </div>
      )}
    </div>
  );
}
