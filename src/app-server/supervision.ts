// `llmx/supervision/list` (an llmx extension): every supervised conversation as a tree, sub-agents under their
// parents, with its supervisor's state. `llmx ps` prints the same shape.
import type { ConversationInfo, PendingApproval } from "../index.js";

export type SupervisionTokens = { input: number; cachedInput: number; output: number; total: number };

export type SupervisionNode = {
  threadId: string;
  parentThreadId: string | null;
  state: string;
  restarts: number;
  model: string;
  cwd: string;
  /** Unix seconds. */
  createdAt: number;
  tokens: SupervisionTokens | null;
  pendingApprovals: number;
  children: SupervisionNode[];
};

/** What the app-server knows of a conversation beyond its supervisor's view. */
export type NodeFacts = { model?: string; cwd?: string; createdAt: number; tokens: SupervisionTokens | null };

export function supervisionTree(
  infos: readonly ConversationInfo[],
  pending: readonly PendingApproval[],
  factsOf: (conversationId: string) => NodeFacts | undefined,
): SupervisionNode[] {
  // A sub-agent's request is listed on the root it reached; the last id of its path is the one that asked.
  const asking = new Map<string, number>();
  for (const request of pending) {
    const asker = request.path.at(-1) ?? request.conversationId;
    asking.set(asker, (asking.get(asker) ?? 0) + 1);
  }
  const nodes = new Map<string, SupervisionNode>();
  for (const info of infos) {
    nodes.set(info.conversationId, {
      threadId: info.conversationId,
      parentThreadId: info.parentId ?? null,
      state: info.state,
      restarts: info.restarts,
      model: "",
      cwd: "",
      createdAt: 0,
      tokens: null,
      pendingApprovals: asking.get(info.conversationId) ?? 0,
      children: [],
    });
  }
  const roots: SupervisionNode[] = [];
  // Parents first, so a sub-agent without facts of its own inherits its parent's model and directory.
  const byDepth = [...infos].sort((a, b) => a.depth - b.depth);
  for (const info of byDepth) {
    const node = nodes.get(info.conversationId) as SupervisionNode;
    const parent = info.parentId === undefined ? undefined : nodes.get(info.parentId);
    const facts = factsOf(info.conversationId);
    node.model = facts?.model ?? parent?.model ?? "";
    node.cwd = facts?.cwd ?? parent?.cwd ?? "";
    node.createdAt = facts?.createdAt ?? 0;
    node.tokens = facts?.tokens ?? null;
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  return roots;
}
