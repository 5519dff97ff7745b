// Context windows of well-known model families (as in Codex's model info table), matched by name prefix.

const KNOWN: readonly (readonly [prefix: string, tokens: number])[] = [
  ["gpt-oss", 96_000],
  ["gpt-5", 272_000],
  ["codex-", 272_000],
  ["gpt-4.1", 1_047_576],
  ["gpt-4o", 128_000],
  ["o3", 200_000],
  ["o4-mini", 200_000],
  ["gpt-3.5", 16_385],
];

export function knownContextWindow(model: string): number | null {
  const name = model.slice(model.lastIndexOf("/") + 1).toLowerCase();
  return KNOWN.find(([prefix]) => name.startsWith(prefix))?.[1] ?? null;
}
