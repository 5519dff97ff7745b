// Broken variants of valid JSON values, for tests that hold a hand-written check to the zod schema it replaced:
// every field and element, nested ones included, removed or replaced by each of a set of odd values.

export const ODD_VALUES: readonly unknown[] = [
  null,
  0,
  -1,
  1.5,
  2 ** 53,
  1e308,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  "",
  "x",
  "x".repeat(100_000),
  true,
  false,
  [],
  ["x"],
  [{}],
  [null],
  {},
  { type: "x" },
  { type: "input_text", text: "t" },
  { id: "i" },
  Symbol("s"),
  () => "f",
];

type Path = (string | number)[];

/** The path of every field and element in a value, nested ones included. */
export function paths(value: unknown, prefix: Path = []): Path[] {
  if (Array.isArray(value)) return value.flatMap((element, index) => [[...prefix, index], ...paths(element, [...prefix, index])]);
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, field]) => [[...prefix, key], ...paths(field, [...prefix, key])]);
  }
  return [];
}

/** A deep copy of `value` with the field at `path` replaced (removed, for `undefined`, unless in an array). */
export function replaced(value: unknown, path: Path, replacement: unknown): unknown {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (replacement === undefined && !Array.isArray(parent)) delete parent[last];
  else parent[last] = replacement;
  return copy;
}

/** `value` itself, then for each path (but those `skip` rejects) the value without it and with each odd value. */
export function brokenVariants(value: unknown, skip: (path: Path) => boolean = () => false): unknown[] {
  const all: unknown[] = [value];
  for (const path of paths(value)) {
    if (skip(path)) continue;
    all.push(replaced(value, path, undefined));
    for (const odd of ODD_VALUES) all.push(replaced(value, path, odd));
  }
  return all;
}
