/**
 * The organisation's people: members with their role (owners and admins change
 * roles and remove members; only owners touch the owner role, as
 * `domain/permissions.may_assign_org_role` says), invitations by email, and the
 * pending ones with a way to revoke them.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, describe } from "../api/client";
import { keys, useInvitations, useMe, useMembers } from "../api/queries";
import type { Invitation, OrgMember, OrgRole } from "../api/types";
import { Avatar } from "./Avatar";
import { toast } from "./toast";

const ORG_ROLES: OrgRole[] = ["owner", "admin", "member", "guest"];
const INVITE_ROLES: Invitation["role"][] = ["member", "admin", "guest"];

/** May `actor` move someone from `current` to `next` (null: removed)? */
export function mayAssign(actor: OrgRole | undefined, current: OrgRole | null, next: OrgRole | null): boolean {
  if (actor !== "owner" && actor !== "admin") return false;
  if (current === "owner" || next === "owner") return actor === "owner";
  return true;
}

export function OrgMembers() {
  const queryClient = useQueryClient();
  const me = useMe();
  const actor = me.data?.role as OrgRole | undefined;
  const manager = actor === "owner" || actor === "admin";
  const members = useMembers();
  const invitations = useInvitations(manager);

  async function run(what: string, call: () => Promise<unknown>, invalidate: readonly unknown[]): Promise<boolean> {
    try {
      await call();
      void queryClient.invalidateQueries({ queryKey: invalidate });
      return true;
    } catch (error) {
      toast("error", what, describe(error));
      return false;
    }
  }

  function remove(m: OrgMember) {
    if (!window.confirm(`Remove ${m.name} from the organisation? Their project roles, sessions and API tokens end.`)) return;
    void run("Member not removed", () => api(`/api/v1/members/${m.user_id}`, { method: "DELETE" }), keys.members);
  }

  if (members.error) return null; // guests cannot read the directory
  return (
    <section className="settings-card" aria-label="Organisation members">
      <h2>Organisation members</h2>
      <ul className="people-list">
        {members.data?.map((m) => {
          const self = m.user_id === me.data?.id;
          return (
            <li key={m.user_id} data-testid="org-member" data-email={m.email}>
              <Avatar userId={m.user_id} size={26} />
              <span className="person">
                <strong>{m.name}{self && <span className="muted"> (you)</span>}</strong>
                <span className="muted small">{m.email}</span>
              </span>
              <select
                aria-label={`Organisation role of ${m.name}`}
                value={m.role}
                disabled={!mayAssign(actor, m.role, null)}
                onChange={(e) =>
                  void run("Role not changed", () => api(`/api/v1/members/${m.user_id}`, { method: "PATCH", body: { role: e.target.value } }), keys.members)
                }
              >
                {ORG_ROLES.map((r) => <option key={r} value={r} disabled={!mayAssign(actor, m.role, r)}>{r}</option>)}
              </select>
              <button className="icon-btn" aria-label={`Remove ${m.name} from the organisation`} disabled={self || !mayAssign(actor, m.role, null)} onClick={() => remove(m)}>
                ×
              </button>
            </li>
          );
        })}
      </ul>
      {manager && (
        <>
          <h3>Invitations</h3>
          <InviteForm
            actor={actor}
            onInvite={async (body) => {
              let sent = true;
              const ok = await run(
                "Invitation not sent",
                async () => {
                  sent = (await api<Invitation>("/api/v1/invitations", { method: "POST", body })).email_sent !== false;
                },
                keys.invitations,
              );
              if (ok && sent) toast("success", `Invitation sent to ${body.email}`);
              if (ok && !sent) toast("error", "Invitation created, but the email was not sent", "Revoke it and invite again later.");
              return ok;
            }}
          />
          <ul className="people-list">
            {invitations.data?.map((i) => (
              <li key={i.id} data-testid="invitation" data-email={i.email}>
                <span className="avatar avatar-empty" style={{ width: 26, height: 26 }} />
                <span className="person">
                  <strong>{i.email}</strong>
                  <span className="muted small">invited as {i.role} · expires {new Date(i.expires_at).toLocaleDateString()}</span>
                </span>
                <button className="btn btn-small" aria-label={`Revoke the invitation of ${i.email}`}
                  onClick={() => void run("Invitation not revoked", () => api(`/api/v1/invitations/${i.id}`, { method: "DELETE" }), keys.invitations)}>
                  Revoke
                </button>
              </li>
            ))}
            {invitations.data?.length === 0 && <li className="muted small">No pending invitations.</li>}
          </ul>
        </>
      )}
    </section>
  );
}

function InviteForm({ actor, onInvite }: { actor: OrgRole | undefined; onInvite: (body: { email: string; role: string }) => Promise<boolean> }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Invitation["role"]>("member");
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    if (await onInvite({ email: email.trim(), role })) setEmail("");
    setBusy(false);
  }
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Invite by email">
      <input type="email" required aria-label="Email to invite" placeholder="name@company.com" value={email} onChange={(e) => setEmail(e.target.value)} />
      <select aria-label="Role for the invitation" value={role} onChange={(e) => setRole(e.target.value as Invitation["role"])}>
        {INVITE_ROLES.map((r) => <option key={r} value={r} disabled={!mayAssign(actor, null, r)}>{r}</option>)}
      </select>
      <button className="btn" disabled={busy || !email.trim()}>Invite</button>
    </form>
  );
}
