/**
 * The filter bar's language on the client: `status:todo priority:high label:bug
 * assignee:me free words`. When the server understands `?filter=` the text goes
 * to it unchanged; otherwise the known fields become the list endpoint's query
 * parameters and the free words match titles here.
 */

export const FILTER_FIELDS = ["status", "priority", "label", "assignee"] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

export interface ParsedFilter {
  fields: Partial<Record<FilterField, string>>;
  words: string[];
}

export function parseFilter(text: string): ParsedFilter {
  const fields: ParsedFilter["fields"] = {};
  const words: string[] = [];
  for (const token of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^(\w+):(.+)$/.exec(token);
    if (m && (FILTER_FIELDS as readonly string[]).includes(m[1].toLowerCase())) {
      fields[m[1].toLowerCase() as FilterField] = m[2];
    } else {
      words.push(token.toLowerCase());
    }
  }
  return { fields, words };
}

/** Every field the filter language knows (docs/search.md), in the order they are offered. */
export const LANGUAGE_FIELDS = [
  "status",
  "assignee",
  "priority",
  "label",
  "sprint",
  "project",
  "reporter",
  "is",
  "has",
  "due",
  "created",
  "updated",
  "key",
  "sort",
] as const;

/** Values that do not depend on the project: shorthands, spans, orders. */
export const FIXED_VALUES: Record<string, string[]> = {
  status: ["open", "closed", "todo", "in_progress", "done"],
  assignee: ["me", "none"],
  reporter: ["me"],
  priority: ["urgent", "high", "medium", "low", "none", ">=high", ">=medium"],
  sprint: ["current", "none"],
  is: ["unassigned", "open", "overdue"],
  has: ["attachments", "comments", "due", "labels", "sprint", "estimate", "assignee"],
  due: ["overdue", "none", "<1w", "<2w", "<30d"],
  created: ["<1d", "<7d", "<30d", ">2026-01-01"],
  updated: ["<1d", "<7d", "<30d"],
  sort: ["updated-desc", "updated-asc", "created-desc", "created-asc", "due-asc", "priority-desc", "relevance"],
};

/** Values of the project and organisation: status ids, labels, people, keys, sprints,
 * and custom fields (`cf.Name` → its options). */
export type FilterValues = Partial<Record<string, string[]>>;

/** A value as the language reads it: quoted when it has more than a word's characters. */
export function quote(value: string): string {
  return /^[\w.@<>=+-]+$/.test(value) ? value : `"${value.replace(/"/g, "")}"`;
}

const OPERATORS = ["AND", "OR", "NOT"];

/** `text` split before the token being typed; a quoted part may hold spaces. */
export function splitLast(text: string): [string, string] {
  const m = /(?:[^\s"]|"[^"]*(?:"|$))+$/.exec(text);
  return m ? [text.slice(0, m.index), m[0]] : [text, ""];
}

/** Completions for the token being typed at the end of `text`: field names (with
 * `cf.` custom fields and `-` negation), then the values of the field being typed. */
export function suggest(text: string, values: FilterValues): string[] {
  const token = splitLast(text)[1];
  const negated = token.startsWith("-") ? "-" : "";
  const bare = token.slice(negated.length);
  const m = /^(cf\.(?:"[^"]*"|[\w]+)|\w+):(.*)$/.exec(bare);
  const custom = Object.keys(values).filter((k) => k.startsWith("cf."));
  if (m) {
    const field = m[1].toLowerCase().startsWith("cf.") ? m[1] : m[1].toLowerCase();
    const typed = m[2].replace(/^"/, "").toLowerCase();
    const known = [...(values[field] ?? []), ...(FIXED_VALUES[field] ?? [])];
    const seen = new Set<string>();
    return known
      .filter((v) => !seen.has(v) && (seen.add(v), true))
      .filter((v) => v.toLowerCase().startsWith(typed) && quote(v) !== m[2])
      .map((v) => `${negated}${field}:${quote(v)}`);
  }
  if (!bare) return [];
  const lower = bare.toLowerCase();
  const fields = [...LANGUAGE_FIELDS, ...custom]
    .filter((f) => f.toLowerCase().startsWith(lower) && f.toLowerCase() !== lower)
    .map((f) => `${negated}${f}:`);
  const ops = negated ? [] : OPERATORS.filter((o) => o.startsWith(bare.toUpperCase()) && o !== bare);
  return [...fields, ...ops];
}

/** `text` with its last token replaced by `completion`. */
export function complete(text: string, completion: string): string {
  const head = splitLast(text)[0];
  return head + completion + (completion.endsWith(":") ? "" : " ");
}
