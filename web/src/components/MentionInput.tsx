/** A textarea that completes `@name` from the people the client knows. */
import { useMemo, useRef, useState, type KeyboardEvent } from "react";
import { handleOf, mentionCandidates, usePeople, type Person } from "../state/people";
import { Avatar } from "./Avatar";

export function MentionInput({
  value,
  onChange,
  onSubmit,
  selfId,
  placeholder,
  label,
}: {
  value: string;
  onChange: (v: string) => void;
  onSubmit: () => void;
  selfId?: string;
  placeholder?: string;
  label: string;
}) {
  const people = usePeople();
  const ref = useRef<HTMLTextAreaElement>(null);
  const [caret, setCaret] = useState(0);
  const [highlight, setHighlight] = useState(0);
  const query = useMemo(() => {
    const before = value.slice(0, caret);
    const m = /(?:^|[\s(])@([\w.+-]*)$/.exec(before);
    return m ? m[1] : null;
  }, [value, caret]);
  const options = query === null ? [] : mentionCandidates(people, query, selfId);

  function pick(person: Person) {
    const before = value.slice(0, caret).replace(/@([\w.+-]*)$/, `@${handleOf(person)} `);
    const next = before + value.slice(caret);
    onChange(next);
    requestAnimationFrame(() => {
      ref.current?.setSelectionRange(before.length, before.length);
      setCaret(before.length);
    });
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (options.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        setHighlight((h) => (h + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        pick(options[Math.min(highlight, options.length - 1)]);
        return;
      }
    }
    if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) {
      e.preventDefault();
      onSubmit();
    }
  }

  return (
    <div className="mention-input">
      <textarea
        ref={ref}
        aria-label={label}
        rows={3}
        value={value}
        placeholder={placeholder}
        onChange={(e) => {
          onChange(e.target.value);
          setCaret(e.target.selectionStart);
          setHighlight(0);
        }}
        onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
        onKeyDown={onKeyDown}
        aria-autocomplete="list"
        aria-expanded={options.length > 0}
      />
      {options.length > 0 && (
        <ul className="mention-list" role="listbox" aria-label="People">
          {options.map((p, i) => (
            <li
              key={p.id}
              role="option"
              aria-selected={i === highlight}
              className={i === highlight ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(p);
              }}
            >
              <Avatar userId={p.id} size={20} />
              <span>{p.name}</span>
              <span className="muted">@{handleOf(p)}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
