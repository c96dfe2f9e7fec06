/** Small inline icons (no icon font, no network). */
import type { Priority } from "../api/types";

export function PriorityIcon({ priority }: { priority: Priority }) {
  const label = `Priority: ${priority}`;
  if (priority === "urgent")
    return (
      <svg className="prio prio-urgent" viewBox="0 0 16 16" width="14" height="14" role="img" aria-label={label}>
        <rect x="1" y="1" width="14" height="14" rx="3" fill="currentColor" />
        <rect x="7" y="4" width="2" height="5" fill="white" />
        <rect x="7" y="10.5" width="2" height="2" fill="white" />
      </svg>
    );
  const bars = { high: 3, medium: 2, low: 1, none: 0 }[priority];
  return (
    <svg className={`prio prio-${priority}`} viewBox="0 0 16 16" width="14" height="14" role="img" aria-label={label}>
      {[0, 1, 2].map((i) => (
        <rect key={i} x={2 + i * 4.5} y={10 - i * 3} width="3" height={4 + i * 3} rx="1" fill="currentColor" opacity={i < bars ? 1 : 0.25} />
      ))}
    </svg>
  );
}

export function BellIcon() {
  return (
    <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true">
      <path d="M10 2.5a5 5 0 0 0-5 5v3.2L3.5 13.5h13L15 10.7V7.5a5 5 0 0 0-5-5Zm-2 12.5a2 2 0 0 0 4 0" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinejoin="round" />
    </svg>
  );
}

export function SearchIcon() {
  return (
    <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
      <circle cx="8.5" cy="8.5" r="5.5" fill="none" stroke="currentColor" strokeWidth="1.8" />
      <path d="m13 13 4.5 4.5" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
    </svg>
  );
}

export function Logo() {
  return (
    <svg viewBox="0 0 32 32" width="22" height="22" aria-hidden="true">
      <rect width="32" height="32" rx="8" fill="var(--accent)" />
      <path d="M9 11h14M9 16h10M9 21h6" stroke="white" strokeWidth="3" strokeLinecap="round" />
    </svg>
  );
}
