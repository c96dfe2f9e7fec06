/**
 * A task's comments: the server's sanitised HTML with each @mention shown as a
 * chip with the member's name (`state/mentions.ts`), and a composer with `@`
 * completion from the organisation's directory.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, describe } from "../api/client";
import { keys, useComments } from "../api/queries";
import type { Comment } from "../api/types";
import { highlightMentions } from "../state/mentions";
import { personOf, usePeople } from "../state/people";
import { Avatar } from "./Avatar";
import { MentionInput } from "./MentionInput";
import { toast } from "./toast";

export function TaskComments({ taskRef, selfId }: { taskRef: string; selfId?: string }) {
  const queryClient = useQueryClient();
  const comments = useComments(taskRef);
  const people = usePeople();
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);

  async function send() {
    if (!body.trim() || busy) return;
    setBusy(true);
    try {
      const created = await api<Comment>(`/api/v1/tasks/${taskRef}/comments`, { method: "POST", body: { body } });
      queryClient.setQueryData<Comment[]>(keys.comments(taskRef), (list) => [...(list ?? []).filter((c) => c.id !== created.id), created]);
      setBody("");
    } catch (error) {
      toast("error", "Comment not posted", describe(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="section" aria-label="Comments">
      <h3>Comments</h3>
      <ul className="comments">
        {comments.data?.map((c) => (
          <li key={c.id} className="comment" data-testid="comment">
            <Avatar userId={c.author_id} size={26} />
            <div className="comment-body">
              <div className="comment-head">
                <strong>{personOf(people, c.author_id)?.name}</strong>
                <span className="muted small">{new Date(c.created_at).toLocaleString()}{c.edited && " · edited"}</span>
              </div>
              <div className="markdown" dangerouslySetInnerHTML={{ __html: highlightMentions(c.body_html, c.mentions ?? [], people) }} />
            </div>
          </li>
        ))}
      </ul>
      <div className="composer">
        <MentionInput label="Comment" value={body} onChange={setBody} onSubmit={() => void send()} selfId={selfId} placeholder="Write a comment… @ to mention, Ctrl+Enter to send" />
        <div className="row-actions">
          <button className="btn btn-primary" disabled={busy || !body.trim()} onClick={() => void send()}>
            Comment
          </button>
        </div>
      </div>
    </section>
  );
}
