// The session's persistent turn settings, changed by `user_turn` and `override_turn_context`.
import type { ChildOverrides } from "../channel/messages.js";
import type { ConversationConfig } from "../config.js";
import type {
  AskForApproval,
  OpOf,
  ReasoningEffort,
  ReasoningSummary,
  SandboxPolicy,
  TurnContextItem,
} from "../protocol/index.js";

export type TurnSettings = {
  cwd: string;
  approvalPolicy: AskForApproval;
  sandboxPolicy: SandboxPolicy;
  model: string;
  effort: ReasoningEffort | undefined;
  summary: ReasoningSummary;
};

export function settingsFromConfig(config: ConversationConfig): TurnSettings {
  return {
    cwd: config.cwd,
    approvalPolicy: config.approvalPolicy,
    sandboxPolicy: config.sandboxPolicy,
    model: config.model,
    effort: config.reasoningEffort,
    summary: config.reasoningSummary,
  };
}

export function applyOverrides(
  settings: TurnSettings,
  op: OpOf<"override_turn_context"> | OpOf<"user_turn">,
): TurnSettings {
  return {
    cwd: op.cwd ?? settings.cwd,
    approvalPolicy: op.approval_policy ?? settings.approvalPolicy,
    sandboxPolicy: op.sandbox_policy ?? settings.sandboxPolicy,
    model: op.model ?? settings.model,
    // JSON null means "unchanged", as in Codex (serde collapses it to the outer None).
    effort: op.effort ?? settings.effort,
    summary: op.summary ?? settings.summary,
  };
}

export function turnContextItem(settings: TurnSettings): TurnContextItem {
  const item: TurnContextItem = {
    cwd: settings.cwd,
    approval_policy: settings.approvalPolicy,
    sandbox_policy: settings.sandboxPolicy,
    model: settings.model,
    summary: settings.summary,
  };
  if (settings.effort !== undefined) item.effort = settings.effort;
  return item;
}

/** The settings a sub-agent takes from its parent at the moment it is started. */
export function inheritedSettings(settings: TurnSettings): ChildOverrides {
  const inherited: ChildOverrides = {
    cwd: settings.cwd,
    approvalPolicy: settings.approvalPolicy,
    sandboxPolicy: settings.sandboxPolicy,
    model: settings.model,
  };
  if (settings.effort !== undefined) inherited.reasoningEffort = settings.effort;
  return inherited;
}
