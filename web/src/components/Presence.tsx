/** Who else is looking at this project right now. */
import type { Viewer } from "../realtime/live";
import { Avatar } from "./Avatar";

export function Presence({ viewers, selfId }: { viewers: Viewer[]; selfId?: string }) {
  const others = viewers.filter((v) => v.user_id !== selfId);
  return (
    <div className="presence" aria-label={`${others.length} other ${others.length === 1 ? "person" : "people"} viewing`} data-testid="presence" data-count={others.length}>
      {others.slice(0, 5).map((v) => (
        <Avatar key={v.user_id} userId={v.user_id} size={26} ring />
      ))}
      {others.length > 5 && <span className="presence-more">+{others.length - 5}</span>}
      {others.length > 0 && <span className="presence-label muted">viewing</span>}
    </div>
  );
}
