/**
 * Who is who: the organisation's members (`GET /api/v1/members`) and the
 * signed-in user, by id, for avatars, names and @mention completion. Someone the
 * client cannot look up (a guest cannot read the directory) is shown by a stable
 * colour and a short id.
 */
import { useSyncExternalStore } from "react";

export interface Person {
  id: string;
  name: string;
  email?: string;
}

const people = new Map<string, Person>();
const listeners = new Set<() => void>();
let snapshot: ReadonlyMap<string, Person> = new Map();

export function learn(person: Person): void {
  const known = people.get(person.id);
  if (known && known.name === person.name && known.email === person.email) return;
  people.set(person.id, { ...known, ...person });
  snapshot = new Map(people);
  listeners.forEach((l) => l());
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function usePeople(): ReadonlyMap<string, Person> {
  return useSyncExternalStore(subscribe, () => snapshot);
}

export function personOf(map: ReadonlyMap<string, Person>, id: string | null | undefined): Person | null {
  if (!id) return null;
  return map.get(id) ?? { id, name: `Member ${id.slice(0, 4)}` };
}

export function initials(name: string): string {
  const parts = name.replace(/@.*/, "").split(/[\s._-]+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts[1]?.[0] ?? "")).toUpperCase();
}

const HUES = [12, 32, 150, 190, 215, 250, 280, 320];

export function colourOf(id: string): string {
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${HUES[h % HUES.length]} 55% 46%)`;
}

/** Candidates for `@` completion: `query` matched against name and email. */
export function mentionCandidates(map: ReadonlyMap<string, Person>, query: string, selfId?: string): Person[] {
  const q = query.toLowerCase();
  return [...map.values()]
    .filter((p) => p.email && p.id !== selfId)
    .filter((p) => p.name.toLowerCase().includes(q) || (p.email ?? "").toLowerCase().startsWith(q))
    .slice(0, 6);
}

/** What to type after `@` to mention `person`: the email's local part. */
export function handleOf(person: Person): string {
  return (person.email ?? "").split("@")[0];
}
