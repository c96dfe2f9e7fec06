import { describe, expect, it } from "vitest";
import type { FieldDef } from "../api/types";
import { cardValues, formatDate, formatNumber, inputValue, mergedValues, valueFromInput } from "./fields";

function field(id: string, type: FieldDef["type"], extra: Partial<FieldDef> = {}): FieldDef {
  return { id, name: id.toUpperCase(), type, required: false, default: null, options: [], show_on_card: true, ...extra };
}

const RED = { id: "o1", name: "Red", color: "#e5484d" };
const BLUE = { id: "o2", name: "Blue", color: "#1f6feb" };
const NOW = new Date(2026, 10, 29);

describe("cardValues", () => {
  const fields = [
    field("team", "single_select", { options: [RED, BLUE] }),
    field("tags", "multi_select", { options: [RED, BLUE] }),
    field("points", "number"),
    field("due", "date"),
    field("owner", "user"),
    field("blocked", "checkbox"),
    field("note", "text"),
    field("link", "url"),
    field("hidden", "text", { show_on_card: false }),
  ];

  it("shows each field marked for cards, in the project's order, formatted", () => {
    const values = cardValues(
      fields,
      {
        custom_fields: {
          link: "https://docs.example.com/a/b",
          note: "a note",
          blocked: true,
          owner: "u-1",
          due: "2026-12-31",
          points: 1234.5,
          tags: ["o2", "o1"],
          team: "o1",
          hidden: "secret",
        },
      },
      NOW,
    );
    expect(values.map((v) => [v.field.id, v.kind])).toEqual([
      ["team", "options"],
      ["tags", "options"],
      ["points", "text"],
      ["due", "text"],
      ["owner", "user"],
      ["blocked", "check"],
      ["note", "text"],
      ["link", "text"],
    ]);
    expect(values[0]).toMatchObject({ options: [RED] });
    expect(values[1]).toMatchObject({ options: [BLUE, RED] });
    expect(values[2]).toMatchObject({ text: "1,234.5" });
    expect(values[3]).toMatchObject({ text: "31 Dec" });
    expect(values[4]).toMatchObject({ userId: "u-1" });
    expect(values[7]).toMatchObject({ text: "docs.example.com" });
  });

  it("leaves out empty values, unchecked boxes and options that no longer exist", () => {
    const values = cardValues(fields, { custom_fields: { team: "gone", tags: [], blocked: false, note: "", points: null } }, NOW);
    expect(values).toEqual([]);
    expect(cardValues(fields, { custom_fields: undefined }, NOW)).toEqual([]);
  });

  it("shortens long text", () => {
    const [value] = cardValues([field("note", "text")], { custom_fields: { note: "x".repeat(50) } }, NOW);
    expect(value).toMatchObject({ text: `${"x".repeat(31)}…` });
  });
});

describe("formatting", () => {
  it("dates show the year only when it is not this year", () => {
    expect(formatDate("2026-01-05", NOW)).toBe("5 Jan");
    expect(formatDate("2027-03-01", NOW)).toBe("1 Mar 2027");
    expect(formatDate("2026-13-01", NOW)).toBeNull();
    expect(formatDate("soon", NOW)).toBeNull();
  });

  it("numbers are grouped and rounded to two decimals", () => {
    expect(formatNumber(3)).toBe("3");
    expect(formatNumber(1234567)).toBe("1,234,567");
    expect(formatNumber(2.3456)).toBe("2.35");
    expect(formatNumber(-1500)).toBe("-1,500");
  });
});

describe("valueFromInput", () => {
  it("turns entries into the stored forms, empty into null (clear)", () => {
    expect(valueFromInput(field("n", "number"), "2.5")).toBe(2.5);
    expect(valueFromInput(field("n", "number"), "")).toBeNull();
    expect(valueFromInput(field("d", "date"), "2026-12-31")).toBe("2026-12-31");
    expect(valueFromInput(field("c", "checkbox"), true)).toBe(true);
    expect(valueFromInput(field("c", "checkbox"), false)).toBe(false);
    expect(valueFromInput(field("m", "multi_select"), ["o1"])).toEqual(["o1"]);
    expect(valueFromInput(field("m", "multi_select"), [])).toBeNull();
    expect(valueFromInput(field("s", "single_select"), "o2")).toBe("o2");
    expect(valueFromInput(field("t", "text"), "  hi ")).toBe("hi");
  });

  it("sends nothing for an entry that is not a value yet", () => {
    expect(valueFromInput(field("n", "number"), "abc")).toBeUndefined();
    expect(valueFromInput(field("d", "date"), "2026-1")).toBeUndefined();
    expect(valueFromInput(field("u", "url"), "docs")).toBeUndefined();
  });

  it("shows stored values back in inputs", () => {
    expect(inputValue(field("n", "number"), 3)).toBe("3");
    expect(inputValue(field("n", "number"), undefined)).toBe("");
    expect(inputValue(field("c", "checkbox"), undefined)).toBe(false);
    expect(inputValue(field("m", "multi_select"), ["o1"])).toEqual(["o1"]);
  });
});

describe("mergedValues", () => {
  it("changes only the fields a patch names, null clearing one", () => {
    const current = { a: 1, b: "o1", c: true };
    expect(mergedValues(current, { b: "o2", c: null, d: "2026-01-01" })).toEqual({ a: 1, b: "o2", d: "2026-01-01" });
    expect(current).toEqual({ a: 1, b: "o1", c: true });
    expect(mergedValues(undefined, { a: 2 })).toEqual({ a: 2 });
  });
});
