/**
 * Custom field values as the UI shows and edits them. A task holds values by
 * field id in the forms `domain/custom_fields.py` stores: option ids for
 * selects, "YYYY-MM-DD" for dates, user ids, numbers, booleans, strings.
 */
import type { FieldDef, FieldOption, Task } from "../api/types";

/** One field's value as a card shows it. */
export type CardValue =
  | { kind: "options"; field: FieldDef; options: FieldOption[] }
  | { kind: "user"; field: FieldDef; userId: string }
  | { kind: "check"; field: FieldDef }
  | { kind: "text"; field: FieldDef; text: string };

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const TEXT_MAX = 32;

/** `2026-12-31` → `31 Dec` in `now`'s year, `31 Dec 2027` otherwise; null if not a date. */
export function formatDate(value: string, now: Date = new Date()): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) return null;
  const day = `${Number(m[3])} ${MONTHS[Number(m[2]) - 1]}`;
  return Number(m[1]) === now.getFullYear() ? day : `${day} ${m[1]}`;
}

/** At most two decimals, thousands grouped: 1234.5 → `1,234.5`. */
export function formatNumber(value: number): string {
  const [whole, fraction] = (Math.round(value * 100) / 100).toString().split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction ? `${grouped}.${fraction}` : grouped;
}

function clip(text: string): string {
  return text.length > TEXT_MAX ? `${text.slice(0, TEXT_MAX - 1)}…` : text;
}

/** One field's value for a card, or null when there is nothing to show. */
export function cardValue(field: FieldDef, value: unknown, now: Date = new Date()): CardValue | null {
  if (value === null || value === undefined || value === "") return null;
  switch (field.type) {
    case "single_select":
    case "multi_select": {
      const ids = Array.isArray(value) ? value.map(String) : [String(value)];
      const options = ids.map((id) => field.options.find((o) => o.id === id)).filter((o): o is FieldOption => !!o);
      return options.length ? { kind: "options", field, options } : null;
    }
    case "user":
      return { kind: "user", field, userId: String(value) };
    case "checkbox":
      return value === true ? { kind: "check", field } : null;
    case "number":
      return typeof value === "number" ? { kind: "text", field, text: formatNumber(value) } : null;
    case "date": {
      const text = formatDate(String(value), now);
      return text ? { kind: "text", field, text } : null;
    }
    case "url": {
      try {
        return { kind: "text", field, text: clip(new URL(String(value)).host) };
      } catch {
        return null;
      }
    }
    case "text":
      return { kind: "text", field, text: clip(String(value)) };
  }
}

/** The values a card shows: fields marked `show_on_card`, in the project's order. */
export function cardValues(fields: readonly FieldDef[], task: Pick<Task, "custom_fields">, now: Date = new Date()): CardValue[] {
  const values = (task.custom_fields ?? {}) as Record<string, unknown>;
  const out: CardValue[] = [];
  for (const field of fields) {
    if (!field.show_on_card) continue;
    const shown = cardValue(field, values[field.id], now);
    if (shown) out.push(shown);
  }
  return out;
}

/**
 * What to send in `custom_fields` for what a person entered: `undefined` when
 * the entry is not a valid value yet (nothing is sent), `null` to clear it.
 */
export function valueFromInput(field: FieldDef, raw: string | boolean | string[]): unknown {
  if (field.type === "checkbox") return raw === true;
  if (field.type === "multi_select") {
    const ids = Array.isArray(raw) ? raw : [];
    return ids.length ? ids : null;
  }
  const text = typeof raw === "string" ? raw.trim() : "";
  if (text === "") return null;
  switch (field.type) {
    case "number": {
      const n = Number(text);
      return Number.isFinite(n) ? n : undefined;
    }
    case "date":
      return formatDate(text) ? text : undefined;
    case "url":
      return /^https?:\/\/[^/\s]+/i.test(text) ? text : undefined;
    default:
      return text;
  }
}

/** The value to show in a field's input. */
export function inputValue(field: FieldDef, value: unknown): string | boolean | string[] {
  if (field.type === "checkbox") return value === true;
  if (field.type === "multi_select") return Array.isArray(value) ? value.map(String) : [];
  if (value === null || value === undefined) return "";
  return String(value);
}

/**
 * A task's values after a `custom_fields` patch, as the server will merge it
 * (`domain/custom_fields.values_after`: a patch names only the fields it
 * changes, null clears one): for showing an edit before the answer arrives.
 */
export function mergedValues(current: Task["custom_fields"], patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(current ?? {}) };
  for (const [id, value] of Object.entries(patch)) {
    if (value === null) delete out[id];
    else out[id] = value;
  }
  return out;
}
