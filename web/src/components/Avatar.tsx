import { colourOf, initials, personOf, usePeople } from "../state/people";

export function Avatar({ userId, size = 22, ring = false }: { userId: string | null; size?: number; ring?: boolean }) {
  const people = usePeople();
  const person = personOf(people, userId);
  if (!person) {
    return (
      <span className="avatar avatar-empty" style={{ width: size, height: size }} title="Unassigned" aria-label="Unassigned" />
    );
  }
  return (
    <span
      className={`avatar${ring ? " avatar-ring" : ""}`}
      style={{ width: size, height: size, background: colourOf(person.id), fontSize: size * 0.42 }}
      title={person.email ? `${person.name} <${person.email}>` : person.name}
      aria-label={person.name}
    >
      {initials(person.name)}
    </span>
  );
}
