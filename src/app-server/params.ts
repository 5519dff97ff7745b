// Params of the methods the app-server serves, as zod schemas (Codex's v2 names, camelCase). Fields llmx does
// not act on are accepted and ignored (objects are loose), as Codex ignores what it does not know.
import { z } from "zod";

const nullish = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

export const AskForApprovalV2 = z.enum(["untrusted", "on-failure", "on-request", "never"]);
export const SandboxModeV2 = z.enum(["read-only", "workspace-write", "danger-full-access"]);
export const SandboxPolicyV2 = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("dangerFullAccess") }),
  z.looseObject({ type: z.literal("readOnly"), networkAccess: z.boolean().optional() }),
  z.looseObject({
    type: z.literal("workspaceWrite"),
    writableRoots: z.array(z.string()).optional(),
    networkAccess: z.boolean().optional(),
    excludeTmpdirEnvVar: z.boolean().optional(),
    excludeSlashTmp: z.boolean().optional(),
  }),
]);
export type SandboxPolicyV2 = z.infer<typeof SandboxPolicyV2>;
const ReasoningEffortV2 = z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]);
const ReasoningSummaryV2 = z.enum(["auto", "concise", "detailed", "none"]);

export const UserInputV2 = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text"), text: z.string() }),
  z.looseObject({ type: z.literal("image"), url: z.string() }),
  z.looseObject({ type: z.literal("localImage"), path: z.string() }),
]);
export type UserInputV2 = z.infer<typeof UserInputV2>;

const ThreadSettings = {
  model: nullish(z.string()),
  modelProvider: nullish(z.string()),
  cwd: nullish(z.string()),
  approvalPolicy: nullish(AskForApprovalV2),
  sandbox: nullish(SandboxModeV2),
  config: nullish(z.record(z.string(), z.unknown())),
  baseInstructions: nullish(z.string()),
  developerInstructions: nullish(z.string()),
};
export type ThreadSettingsParams = {
  model?: string | null | undefined;
  modelProvider?: string | null | undefined;
  cwd?: string | null | undefined;
  approvalPolicy?: z.infer<typeof AskForApprovalV2> | null | undefined;
  sandbox?: z.infer<typeof SandboxModeV2> | null | undefined;
  config?: Record<string, unknown> | null | undefined;
  baseInstructions?: string | null | undefined;
  developerInstructions?: string | null | undefined;
};

const threadId = z.string().min(1);

export const InitializeParams = z.looseObject({
  clientInfo: z.looseObject({ name: z.string(), title: nullish(z.string()), version: z.string() }),
  capabilities: z.unknown().optional(),
});
export const ThreadStartParams = z.looseObject({ ...ThreadSettings, ephemeral: nullish(z.boolean()) });
export const ThreadResumeParams = z.looseObject({ threadId, ...ThreadSettings, excludeTurns: nullish(z.boolean()) });
export const ThreadForkParams = z.looseObject({ threadId, ...ThreadSettings, excludeTurns: nullish(z.boolean()) });
export const ThreadIdParams = z.looseObject({ threadId });
export const ThreadReadParams = z.looseObject({ threadId, includeTurns: nullish(z.boolean()) });
export const ThreadListParams = z.looseObject({
  cursor: nullish(z.string()),
  limit: nullish(z.number().int().min(0)),
  archived: nullish(z.boolean()),
  modelProviders: nullish(z.array(z.string())),
});
export const ThreadSetNameParams = z.looseObject({ threadId, name: z.string() });
export const TurnStartParams = z.looseObject({
  threadId,
  input: z.array(UserInputV2),
  cwd: nullish(z.string()),
  approvalPolicy: nullish(AskForApprovalV2),
  sandboxPolicy: nullish(SandboxPolicyV2),
  model: nullish(z.string()),
  effort: nullish(ReasoningEffortV2),
  summary: nullish(ReasoningSummaryV2),
});
export const TurnInterruptParams = z.looseObject({ threadId, turnId: z.string() });
export const TurnSteerParams = z.looseObject({ threadId, expectedTurnId: z.string(), input: z.array(UserInputV2) });
export const ReviewTargetV2 = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("uncommittedChanges") }),
  z.looseObject({ type: z.literal("baseBranch"), branch: z.string() }),
  z.looseObject({ type: z.literal("commit"), sha: z.string(), title: nullish(z.string()) }),
  z.looseObject({ type: z.literal("custom"), instructions: z.string() }),
]);
export const ReviewStartParams = z.looseObject({ threadId, target: ReviewTargetV2 });
/** Params are optional for the listing methods; when present they must be an object. */
export const AnyParams = z.union([z.looseObject({}), z.undefined(), z.null()]);

/** The client's answer to an approval request (Codex's v2 decisions). */
export const ApprovalResponse = z.looseObject({
  decision: z.union([
    z.enum(["accept", "acceptForSession", "decline", "cancel"]),
    z.looseObject({ acceptWithExecpolicyAmendment: z.unknown() }),
  ]),
});
